import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { REGISTRATION_TOKEN, eventually, type TestPulse } from './pulse';

/** The built runner CLI (`npm run build` makes it). */
export const RUNNER_CLI = resolve(__dirname, '../../runner/dist/cli.js');

const FINAL_STATES = ['finished', 'failed', 'timeout', 'canceled'];

/** A runner's registration: its id and its config file (which holds the token). */
export interface RegisteredRunner {
  id: string;
  token: string;
  dir: string;
  configPath: string;
  workDir: string;
}

export interface RunnerProcess {
  child: ChildProcess;
  /** The runner's own log (stderr) and stdout so far. */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL if it does not exit within `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * Environment of the runner process: only what it needs, plus a canary variable that must never
 * reach a job's environment.
 */
export const RUNNER_CANARY = 'PULSE_TEST_RUNNER_CANARY';

function runnerEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LANG: 'C.UTF-8',
    [RUNNER_CANARY]: 'runner-canary-value-must-not-leak',
    ...extra,
  };
}

/** `pulse-runner register …` against `pulse`, with its config in a fresh temp dir. */
export async function registerRunner(pulse: TestPulse, options: { name?: string; labels?: string[]; args?: string[] } = {}): Promise<RegisteredRunner> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-runner-test-'));
  const configPath = join(dir, 'config', 'runner.json');
  const workDir = join(dir, 'work');
  mkdirSync(workDir, { recursive: true });
  const args = ['register', '--url', pulse.url, '--config', configPath, '--work-dir', workDir];
  if (options.name) args.push('--name', options.name);
  if (options.labels?.length) args.push('--labels', options.labels.join(','));
  if (options.args) args.push(...options.args);
  const { code, stdout, stderr } = await runCli(args, { PULSE_REGISTRATION_TOKEN: REGISTRATION_TOKEN });
  const match = /registered runner ([0-9a-f-]{36})/.exec(stdout);
  if (code !== 0 || !match) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`pulse-runner register exited with ${code}:\n${stdout}${stderr}`);
  }
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { runnerToken: string };
  return { id: match[1], token: config.runnerToken, dir, configPath, workDir };
}

/** Runs the CLI to completion (register, unregister, --help …). */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [RUNNER_CLI, ...args], { env: runnerEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}

/** `pulse-runner start --config … --allow-local-repos` as a child process. */
export function startRunner(runner: RegisteredRunner, options: { args?: string[]; env?: Record<string, string> } = {}): RunnerProcess {
  const args = [
    'start',
    '--config',
    runner.configPath,
    '--work-dir',
    runner.workDir,
    '--allow-local-repos',
    '--wait',
    '2',
    '--kill-grace',
    '2',
    '--request-timeout',
    '5',
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, [RUNNER_CLI, ...args], {
    env: runnerEnv({ PULSE_RUNNER_CONFIG: runner.configPath, ...options.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return {
    child,
    output: () => out,
    exited,
    signal(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
    async stop(graceMs = 15000) {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Removes a registered runner's temp dir (config and work dir). */
export function cleanupRunner(runner: RegisteredRunner): void {
  rmSync(runner.dir, { recursive: true, force: true });
}

export interface RunView {
  id: string;
  state: string;
  exit_code: number | null;
  logs: number;
  attempt: number;
  [key: string]: unknown;
}

export async function getRun(pulse: TestPulse, id: string): Promise<RunView> {
  const res = await pulse.http.get(`/api/runs/${id}`).set(pulse.admin).expect(200);
  return res.body as RunView;
}

/** Polls the run until its state is final. */
export function waitForFinal(pulse: TestPulse, id: string, timeoutMs = 40000): Promise<RunView> {
  return eventually(async () => {
    const run = await getRun(pulse, id);
    return FINAL_STATES.includes(run.state) ? run : undefined;
  }, timeoutMs, 200);
}

/** Polls the run until `check` holds. */
export function waitForRun(pulse: TestPulse, id: string, check: (run: RunView) => boolean, timeoutMs = 30000): Promise<RunView> {
  return eventually(async () => {
    const run = await getRun(pulse, id);
    return check(run) ? run : undefined;
  }, timeoutMs, 200);
}

/** The run's whole stored log, as bytes decoded as UTF-8. */
export async function readLog(pulse: TestPulse, id: string): Promise<string> {
  const res = await pulse.http
    .get(`/api/runs/${id}/logs`)
    .set(pulse.admin)
    .buffer(true)
    .parse((response, callback) => {
      const chunks: Buffer[] = [];
      response.on('data', (c: Buffer) => chunks.push(c));
      response.on('end', () => callback(null, Buffer.concat(chunks)));
    })
    .expect(200);
  return (res.body as Buffer).toString('utf8');
}

/** A git repository in a temp dir with `files` committed on its default branch. */
export function makeGitRepo(files: Record<string, string> = { 'README.md': '# test repository\n' }): string {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-repo-'));
  const git = (...args: string[]): void => {
    execFileSync('git', args, {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_AUTHOR_NAME: 'Pulse Test',
        GIT_AUTHOR_EMAIL: 'test@example.com',
        GIT_COMMITTER_NAME: 'Pulse Test',
        GIT_COMMITTER_EMAIL: 'test@example.com',
      },
      stdio: 'ignore',
    });
  };
  git('init', '--quiet', '--initial-branch=main');
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  git('add', '--all');
  git('commit', '--quiet', '-m', 'initial commit');
  return dir;
}

/** A TCP port that was free a moment ago (for an orchestrator that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

/**
 * True while a process with this pid exists (signal 0 probes without signalling). A zombie (killed,
 * not yet reaped: in a container, PID 1 may never reap orphans) counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' || !existsSync('/proc/self'); // gone just now, or no /proc
  }
}
