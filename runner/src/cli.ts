#!/usr/bin/env node
/**
 * pulse-runner: register this host with a Pulse orchestrator, run its jobs, unregister.
 *
 *   pulse-runner register --url URL --registration-token T [--name N] [--labels a,b] [--config FILE]
 *   pulse-runner start [--config FILE] [--allow-local-repos]
 *   pulse-runner unregister [--config FILE]
 *
 * Every mistake ends with one `error: …` line on stderr and a non-zero exit code (2 for a usage
 * mistake, 1 for anything else). The runner's own log goes to stderr; stdout only carries the
 * one-line results of register and unregister.
 */
import { promises as fs, constants as fsConstants } from 'node:fs';
import { parseArgs } from 'node:util';
import { ApiClient } from './api-client';
import { Agent } from './agent';
import { RunnerCredentials } from './credentials';
import {
  OPTIONS,
  UsageError,
  configExists,
  configPathOf,
  loadConfig,
  removeConfig,
  resolveRegister,
  resolveStart,
  resolveUnregister,
  saveConfig,
  type Command,
  type Flags,
} from './config';
import { HttpError, NetworkError, Transport } from './http';
import { createLogger, errorMessage } from './logger';
import { DEFAULT_RETRY, retry } from './retry';
import type { ContainerSettings } from './container/executor';
import { InstanceKeeper } from './container/instances';
import { Reaper } from './container/reaper';
import { ContainerSupport } from './container/support';
import { RUNNER_VERSION, currentUsage, detectResources, shellFramework } from './system';

const COMMANDS: Record<Command, { usage: string; summary: string }> = {
  register: {
    usage: 'pulse-runner register --url URL --registration-token T [--name N] [--labels a,b] [--config FILE] [options]',
    summary: 'Registers this host with the orchestrator and writes the config file (mode 0600) with the runner id and token.',
  },
  start: {
    usage: 'pulse-runner start [--config FILE] [--allow-local-repos] [options]',
    summary:
      'Polls the orchestrator and runs its jobs, one at a time. SIGTERM/SIGINT: finish the current run, upload it, exit 0; a second signal cancels the run.',
  },
  unregister: {
    usage: 'pulse-runner unregister [--config FILE] [options]',
    summary: 'Deregisters the runner (the orchestrator refuses it from then on) and removes its config file.',
  },
};

/** A failure the CLI reports as one line and exit code 1. */
class CliError extends Error {}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      process.stderr.write(topHelp());
      return 2;
    }
    if (command === '--help' || command === '-h' || command === 'help') {
      process.stdout.write(topHelp());
      return 0;
    }
    if (command === '--version' || command === '-v' || command === 'version') {
      process.stdout.write(`${RUNNER_VERSION}\n`);
      return 0;
    }
    if (!isCommand(command)) throw new UsageError(`unknown command '${command}' (commands: register, start, unregister; see pulse-runner --help)`);
    const flags = parseFlags(command, rest);
    if (flags.help === true) {
      process.stdout.write(commandHelp(command));
      return 0;
    }
    switch (command) {
      case 'register':
        return await register(flags, env);
      case 'start':
        return await start(flags, env);
      case 'unregister':
        return await unregister(flags, env);
    }
  } catch (err) {
    process.stderr.write(`error: ${errorMessage(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

async function register(flags: Flags, env: NodeJS.ProcessEnv): Promise<number> {
  const settings = resolveRegister(flags, env);
  if (configExists(settings.configPath) && !settings.force) {
    throw new UsageError(`${settings.configPath} already holds a runner: run \`pulse-runner unregister\` first, or pass --force`);
  }
  const containers = await ContainerSupport.discover(settings.containers, createLogger(settings.logLevel === 'info' ? 'warn' : settings.logLevel)).catch((err: unknown) => {
    throw new UsageError(errorMessage(err));
  });
  const transport = new Transport({ ca: settings.ca, proxy: settings.proxy, userAgent: userAgent() });
  try {
    const api = new ApiClient(settings.url, transport, { timeoutMs: settings.requestTimeoutMs });
    const registration = await api
      .register({
        token: settings.registrationToken,
        name: settings.name,
        labels: settings.labels,
        framework: shellFramework(),
        resources: await detectResources(settings.workDir, settings.resources),
        ...(await containers.capabilities()),
      })
      .catch((err: unknown) => {
        throw explain(err, settings.url, 'registration');
      });
    await saveConfig(settings.configPath, {
      url: settings.url,
      runnerId: registration.runnerId,
      runnerToken: registration.runnerToken,
      name: settings.name,
      labels: settings.labels,
      caFile: settings.caFile,
    });
    process.stdout.write(`registered runner ${registration.runnerId} (${settings.name}); config written to ${settings.configPath}\n`);
    return 0;
  } finally {
    transport.close();
  }
}

async function start(flags: Flags, env: NodeJS.ProcessEnv): Promise<number> {
  const stored = await loadConfig(configPathOf(flags, env));
  const settings = resolveStart(flags, env, stored);
  await fs.access(settings.workDir, fsConstants.W_OK).catch(() => {
    throw new UsageError(`work dir ${settings.workDir} is not writable (--work-dir or PULSE_RUNNER_WORK_DIR)`);
  });
  const logger = createLogger(settings.logLevel, undefined, settings.logFormat);
  const support = await ContainerSupport.discover(settings.containers, logger).catch((err: unknown) => {
    throw new UsageError(errorMessage(err));
  });
  const container: ContainerSettings | undefined = support.engine && {
    engine: support.engine,
    pullPolicy: settings.pullPolicy,
    network: settings.containerNetwork,
    defaultImage: support.defaultImage,
    inUse: new Set<string>(),
  };
  // Leftovers of this runner (a kill -9 mid-run) go before the first run; then every 5 minutes.
  const reaper = container && new Reaper(container.engine, stored.runnerId, container.inUse, logger);
  await reaper?.start();
  // Instances (SPEC section 10): this runner's containers are adopted before the first report.
  const instances =
    container &&
    new InstanceKeeper({
      engine: container.engine,
      runnerId: stored.runnerId,
      pullPolicy: settings.pullPolicy,
      network: settings.containerNetwork,
      address: settings.instanceAddress,
      restartDelayMs: settings.instanceRestartDelayMs,
      logger,
    });
  await instances?.adopt();
  const transport = new Transport({ ca: settings.ca, proxy: settings.proxy, userAgent: userAgent() });
  const configPath = settings.configPath;
  const credentials = new RunnerCredentials(stored.runnerToken, stored.previousRunnerToken, (current, previous) =>
    saveConfig(configPath, { ...stored, runnerToken: current, previousRunnerToken: previous }),
  );
  const api = new ApiClient(stored.url, transport, { token: credentials, timeoutMs: settings.requestTimeoutMs });
  const agent = new Agent(
    api,
    {
      runnerId: stored.runnerId,
      framework: shellFramework(),
      usage: () => currentUsage(settings.workDir),
      capabilities: () => support.capabilities(logger),
      instances,
    },
    {
      waitSeconds: settings.waitSeconds,
      jitterFraction: 0.2,
      heartbeatTimeoutMarginMs: settings.requestTimeoutMs,
      defaultIntervalSeconds: 10,
      retry: DEFAULT_RETRY,
      job: {
        workDir: settings.workDir,
        allowLocalRepos: settings.allowLocalRepos,
        killGraceMs: settings.killGraceMs,
        baseEnv: settings.baseEnv,
        gitEnv: settings.gitEnv,
        container,
        flushIntervalMs: 1000,
        chunkBytes: 64 * 1024,
        pollMs: 100,
        retry: DEFAULT_RETRY,
      },
    },
    logger,
  );
  // A status change is reported at once, not at the next heartbeat.
  instances?.onChange(() => agent.nudge());

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      logger.info(`received ${signal}: finishing the current run, then exiting (send it again to cancel the run)`);
      agent.stop();
    } else if (signals === 2) {
      logger.info(`received ${signal} again: canceling the current run`);
      agent.cancel();
    } else {
      logger.warn(`received ${signal} a third time: killing the run and exiting now, without reporting it`);
      agent.killNow();
      process.exit(1);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  logger.info('pulse-runner starting', { version: RUNNER_VERSION, url: stored.url, runner: stored.runnerId, workDir: settings.workDir });
  try {
    const exit = await agent.run();
    return exit.code;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    reaper?.stop();
    instances?.close();
    transport.close();
  }
}

async function unregister(flags: Flags, env: NodeJS.ProcessEnv): Promise<number> {
  const configPath = configPathOf(flags, env);
  const stored = await loadConfig(configPath);
  const settings = resolveUnregister(flags, env, stored);
  const transport = new Transport({ ca: settings.ca, proxy: settings.proxy, userAgent: userAgent() });
  const credentials = new RunnerCredentials(stored.runnerToken, stored.previousRunnerToken);
  const api = new ApiClient(stored.url, transport, { token: credentials, timeoutMs: settings.requestTimeoutMs });
  try {
    await retry(() => api.deregister(stored.runnerId), { policy: { ...DEFAULT_RETRY, maxAttempts: 3 } });
  } catch (err) {
    if (err instanceof HttpError && err.status === 403) {
      await removeConfig(configPath);
      throw new CliError(`runner ${stored.runnerId} was already deregistered (403 Forbidden); removed ${configPath}`);
    }
    throw explain(err, stored.url, 'deregistration');
  } finally {
    transport.close();
  }
  await removeConfig(configPath);
  process.stdout.write(`unregistered runner ${stored.runnerId}; removed ${configPath}\n`);
  return 0;
}

/** One sentence for a failed one-shot request. */
function explain(err: unknown, url: string, what: string): Error {
  if (err instanceof NetworkError) return new CliError(`cannot reach ${url}: ${err.message}`);
  if (err instanceof HttpError) {
    if (err.status === 401 && what === 'registration') return new CliError('registration refused: wrong registration token (401 Unauthorized)');
    if (err.status === 401) return new CliError(`${what} refused: the orchestrator does not accept the runner token (401 Unauthorized)`);
    if (err.status === 403) return new CliError(`${what} refused: runner was deregistered (403 Forbidden)`);
    if (err.status === 404) return new CliError(`${what} failed: ${url} does not look like a Pulse orchestrator (404 Not Found)`);
    return new CliError(`${what} failed: ${err.message}`);
  }
  return err instanceof Error ? err : new CliError(String(err));
}

function parseFlags(command: Command, args: string[]): Flags {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const spec of OPTIONS) if (spec.commands.includes(command)) options[spec.flag] = { type: spec.type };
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    // Node's message is already one sentence; point at the right help.
    const message = errorMessage(err).split('\n')[0].replace(/\.?\s*To specify a positional argument.*$/, '');
    throw new UsageError(`${message} (see pulse-runner ${command} --help)`);
  }
}

function isCommand(value: string): value is Command {
  return Object.prototype.hasOwnProperty.call(COMMANDS, value);
}

function topHelp(): string {
  return [
    `pulse-runner ${RUNNER_VERSION}: runs Pulse CI jobs on this host.`,
    '',
    'Usage:',
    ...Object.values(COMMANDS).map((c) => `  ${c.usage}`),
    '',
    'Run `pulse-runner <command> --help` for the options of a command.',
    '',
  ].join('\n');
}

function commandHelp(command: Command): string {
  const lines = [`Usage: ${COMMANDS[command].usage}`, '', COMMANDS[command].summary, '', 'Options:'];
  const rows = OPTIONS.filter((o) => o.commands.includes(command)).map((o) => ({
    left: `--${o.flag}${o.value ? ` ${o.value}` : ''}`,
    right: `${o.help}${o.env ? ` [env ${o.env}]` : ''}`,
  }));
  rows.push({ left: '-h, --help', right: 'show this help' });
  const width = Math.max(...rows.map((r) => r.left.length)) + 2;
  for (const row of rows) lines.push(`  ${row.left.padEnd(width)}${row.right}`);
  if (command !== 'unregister') lines.push('', 'HTTPS_PROXY, HTTP_PROXY and NO_PROXY are honoured.');
  return `${lines.join('\n')}\n`;
}

function userAgent(): string {
  return `pulse-runner/${RUNNER_VERSION} node/${process.versions.node}`;
}

if (require.main === module) {
  main(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`error: ${errorMessage(err)}\n`);
      process.exit(1);
    },
  );
}
