/**
 * Everything the runner is told, read once at boot into typed, validated settings: command-line
 * flags first, then PULSE_* environment variables, then the config file written by `register`,
 * then defaults. A bad value stops the command with one line naming the flag (or variable).
 * Nothing reads process.env after this.
 *
 * The config file holds the runner's identity (id and token): mode 0600 in a 0700 directory,
 * written atomically (temp file + rename) so a crash never leaves half a token.
 */
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Executor, Resources } from './api-client';
import { PULL_POLICIES, type PullPolicy } from './container/executor';
import type { ContainerChoice } from './container/support';
import { isLogLevel, type LogFormat, type LogLevel } from './logger';
import { readProxyEnv, type ProxyEnv } from './proxy';

/** A mistake of the user's: the CLI prints `error: <message>` and exits non-zero. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Command = 'register' | 'start' | 'unregister';

export interface OptionSpec {
  flag: string;
  env?: string;
  type: 'string' | 'boolean';
  value?: string;
  help: string;
  commands: Command[];
}

const ALL: Command[] = ['register', 'start', 'unregister'];

/** Every flag, its environment variable and the commands that take it (help and README follow it). */
export const OPTIONS: OptionSpec[] = [
  { flag: 'url', env: 'PULSE_URL', type: 'string', value: 'URL', help: 'orchestrator base url, e.g. https://ci.example.com', commands: ['register'] },
  { flag: 'registration-token', env: 'PULSE_REGISTRATION_TOKEN', type: 'string', value: 'T', help: 'the orchestrator’s registration token', commands: ['register'] },
  { flag: 'name', env: 'PULSE_RUNNER_NAME', type: 'string', value: 'N', help: 'runner name (default: the host name)', commands: ['register'] },
  { flag: 'labels', env: 'PULSE_RUNNER_LABELS', type: 'string', value: 'a,b', help: 'comma-separated labels runs can ask for', commands: ['register'] },
  { flag: 'cpu', env: 'PULSE_RUNNER_CPU', type: 'string', value: 'N', help: 'cores offered to runs (default: all logical cores)', commands: ['register'] },
  { flag: 'memory', env: 'PULSE_RUNNER_MEMORY', type: 'string', value: 'MiB', help: 'memory offered to runs (default: all)', commands: ['register'] },
  { flag: 'disk', env: 'PULSE_RUNNER_DISK', type: 'string', value: 'MiB', help: 'disk offered to runs (default: free space of --work-dir)', commands: ['register'] },
  { flag: 'force', type: 'boolean', help: 'overwrite an existing config file', commands: ['register'] },
  { flag: 'config', env: 'PULSE_RUNNER_CONFIG', type: 'string', value: 'FILE', help: 'config file (default: $XDG_CONFIG_HOME/pulse-runner/config.json)', commands: ALL },
  { flag: 'ca-file', env: 'PULSE_CA_FILE', type: 'string', value: 'FILE', help: 'trust only the CAs in this PEM file (default: system CAs)', commands: ALL },
  { flag: 'allow-local-repos', env: 'PULSE_RUNNER_ALLOW_LOCAL_REPOS', type: 'boolean', help: 'allow local paths and file:// repositories', commands: ['start'] },
  { flag: 'work-dir', env: 'PULSE_RUNNER_WORK_DIR', type: 'string', value: 'DIR', help: 'where run workspaces are made (default: the system temp dir)', commands: ['register', 'start'] },
  { flag: 'wait', env: 'PULSE_RUNNER_WAIT', type: 'string', value: 'S', help: 'long-poll seconds of a heartbeat, idle or busy, 0 to turn off (default 20)', commands: ['start'] },
  { flag: 'kill-grace', env: 'PULSE_RUNNER_KILL_GRACE', type: 'string', value: 'S', help: 'seconds between TERM and KILL when a run is stopped (default 10)', commands: ['start'] },
  { flag: 'request-timeout', env: 'PULSE_RUNNER_REQUEST_TIMEOUT', type: 'string', value: 'S', help: 'seconds without an answer before a request is retried (default 30)', commands: ALL },
  { flag: 'container-engine', env: 'PULSE_CONTAINER_ENGINE', type: 'string', value: 'E', help: 'auto, off or unix:///path of a Docker or Podman API socket (default auto)', commands: ['register', 'start'] },
  { flag: 'executors', env: 'PULSE_RUNNER_EXECUTORS', type: 'string', value: 'a,b', help: 'shell and/or container (default: shell, plus container when an engine answers)', commands: ['register', 'start'] },
  { flag: 'default-image', env: 'PULSE_RUNNER_DEFAULT_IMAGE', type: 'string', value: 'IMG', help: 'run runs that name no image in this image', commands: ['register', 'start'] },
  { flag: 'pull-policy', env: 'PULSE_RUNNER_PULL_POLICY', type: 'string', value: 'P', help: 'if-not-present, always or never (default if-not-present)', commands: ['start'] },
  { flag: 'container-network', env: 'PULSE_RUNNER_CONTAINER_NETWORK', type: 'string', value: 'NET', help: "network of run containers (default: the engine's default)", commands: ['start'] },
  { flag: 'instance-address', env: 'PULSE_RUNNER_INSTANCE_ADDRESS', type: 'string', value: 'ADDR', help: "address reported with instances' published ports (default: this host's first non-internal IPv4)", commands: ['start'] },
  { flag: 'log-level', env: 'PULSE_RUNNER_LOG_LEVEL', type: 'string', value: 'L', help: 'debug, info, warn or error (default info)', commands: ALL },
  { flag: 'log-format', env: 'PULSE_RUNNER_LOG_FORMAT', type: 'string', value: 'F', help: 'text or json (one JSON object per line) (default text)', commands: ALL },
];

export type Flags = Record<string, string | boolean | undefined>;

/** What is stored by `register` and read by `start` and `unregister`. */
export interface StoredConfig {
  url: string;
  runnerId: string;
  runnerToken: string;
  /** The token before the last rotation: tried when `runnerToken` is refused (SPEC section 12). */
  previousRunnerToken?: string;
  name?: string;
  labels?: string[];
  caFile?: string;
}

interface CommonSettings {
  configPath: string;
  caFile?: string;
  /** Contents of caFile, read at boot. */
  ca?: Buffer;
  proxy: ProxyEnv;
  requestTimeoutMs: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

export interface RegisterSettings extends CommonSettings {
  url: string;
  registrationToken: string;
  name: string;
  labels: string[];
  resources: Partial<Resources>;
  workDir: string;
  force: boolean;
  containers: ContainerChoice;
}

export interface StartSettings extends CommonSettings {
  stored: StoredConfig;
  allowLocalRepos: boolean;
  workDir: string;
  waitSeconds: number;
  killGraceMs: number;
  baseEnv: Record<string, string>;
  gitEnv: Record<string, string>;
  containers: ContainerChoice;
  pullPolicy: PullPolicy;
  containerNetwork?: string;
  instanceAddress?: string;
  /** Before a crashed instance is started again (SPEC: 15 s; PULSE_RUNNER_INSTANCE_RESTART_DELAY_MS shortens it for tests). */
  instanceRestartDelayMs: number;
}

export interface UnregisterSettings extends CommonSettings {
  stored: StoredConfig;
}

/** `$XDG_CONFIG_HOME/pulse-runner/config.json`, else `~/.config/pulse-runner/config.json`. */
export function defaultConfigPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || os.homedir(), '.config');
  return join(base, 'pulse-runner', 'config.json');
}

export function resolveRegister(flags: Flags, env: NodeJS.ProcessEnv): RegisterSettings {
  const read = reader(flags, env);
  const url = parseUrl(read.string('url'), 'url');
  const registrationToken = read.string('registration-token');
  if (!registrationToken) throw new UsageError(`a registration token is required: ${describe('registration-token')}`);
  const labels = (read.string('labels') ?? '')
    .split(',')
    .map((label) => label.trim())
    .filter((label) => label !== '');
  const resources: Partial<Resources> = {};
  for (const key of ['cpu', 'memory', 'disk'] as const) {
    const value = read.string(key);
    if (value !== undefined) resources[key] = parseInteger(value, key, 1);
  }
  return {
    ...common(read, env),
    url,
    registrationToken,
    name: read.string('name') || os.hostname(),
    labels,
    resources,
    workDir: workDir(read),
    force: read.boolean('force'),
    containers: containerChoice(read, env),
  };
}

export function resolveStart(flags: Flags, env: NodeJS.ProcessEnv, stored: StoredConfig): StartSettings {
  const read = reader(flags, env);
  const settings = common(read, env, stored.caFile);
  return {
    ...settings,
    stored,
    allowLocalRepos: read.boolean('allow-local-repos'),
    workDir: workDir(read),
    waitSeconds: parseSeconds(read.string('wait') ?? '20', 'wait', 0, 300),
    killGraceMs: parseSeconds(read.string('kill-grace') ?? '10', 'kill-grace', 0, 3600) * 1000,
    baseEnv: baseEnvironment(env),
    gitEnv: env.SSH_AUTH_SOCK ? { SSH_AUTH_SOCK: env.SSH_AUTH_SOCK } : {},
    containers: containerChoice(read, env),
    pullPolicy: pullPolicy(read.string('pull-policy') ?? 'if-not-present'),
    containerNetwork: networkName(read.string('container-network')),
    instanceAddress: instanceAddress(read.string('instance-address')),
    instanceRestartDelayMs: restartDelay(env.PULSE_RUNNER_INSTANCE_RESTART_DELAY_MS),
  };
}

function restartDelay(value: string | undefined): number {
  if (value === undefined || value === '') return 15_000;
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`PULSE_RUNNER_INSTANCE_RESTART_DELAY_MS must be a whole number of milliseconds (got '${value}')`);
  return Number(value);
}

function instanceAddress(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.length > 100 || !/^[0-9A-Za-z.:%-]+$/.test(value)) throw new UsageError(`${describe('instance-address')} must be a host address (got '${value}')`);
  return value;
}

/** An image reference as the engine takes it: [registry[:port]/]path[:tag][@digest]. */
export const IMAGE_REFERENCE =
  /^(?:(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)+|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?=:[0-9]+\/))(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

function containerChoice(read: Reader, env: NodeJS.ProcessEnv): ContainerChoice {
  const engine = read.string('container-engine') ?? 'auto';
  if (engine !== 'auto' && engine !== 'off' && !/^unix:\/\/\/.+/.test(engine)) {
    throw new UsageError(`${describe('container-engine')} must be auto, off or unix:///path (got '${engine}')`);
  }
  let executors: Executor[] | undefined;
  const listed = read.string('executors');
  if (listed !== undefined) {
    const names = [...new Set(listed.split(',').map((e) => e.trim()).filter((e) => e !== ''))];
    const wrong = names.find((e) => e !== 'shell' && e !== 'container');
    if (wrong !== undefined || names.length === 0) {
      throw new UsageError(`${describe('executors')} must list shell and/or container (got '${listed}')`);
    }
    executors = names as Executor[];
  }
  const defaultImage = read.string('default-image');
  if (defaultImage !== undefined && (defaultImage.length > 255 || !IMAGE_REFERENCE.test(defaultImage))) {
    throw new UsageError(`${describe('default-image')} is not an image reference (got '${defaultImage}')`);
  }
  return { engine, dockerHost: env.DOCKER_HOST || undefined, executors, defaultImage };
}

function pullPolicy(value: string): PullPolicy {
  if (!(PULL_POLICIES as string[]).includes(value)) {
    throw new UsageError(`${describe('pull-policy')} must be if-not-present, always or never (got '${value}')`);
  }
  return value as PullPolicy;
}

function networkName(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/.test(value)) {
    throw new UsageError(`${describe('container-network')} is not a network name (got '${value}')`);
  }
  return value;
}

export function resolveUnregister(flags: Flags, env: NodeJS.ProcessEnv, stored: StoredConfig): UnregisterSettings {
  const read = reader(flags, env);
  return { ...common(read, env, stored.caFile), stored };
}

/** Where the config file is, for the commands that must read it before the rest. */
export function configPathOf(flags: Flags, env: NodeJS.ProcessEnv): string {
  return resolve(reader(flags, env).string('config') || defaultConfigPath(env));
}

/**
 * The environment every script starts from: only what a shell needs to work. The runner's own
 * variables (its config path, proxy credentials, anything its service manager set) stay out.
 */
export function baseEnvironment(env: NodeJS.ProcessEnv): Record<string, string> {
  const user = env.USER || safeUsername();
  return {
    PATH: env.PATH || '/usr/local/bin:/usr/bin:/bin',
    HOME: env.HOME || os.homedir(),
    LANG: env.LANG || 'C.UTF-8',
    USER: user,
    LOGNAME: user,
    SHELL: 'bash',
  };
}

export async function loadConfig(path: string): Promise<StoredConfig> {
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UsageError(`no config at ${path}: run \`pulse-runner register\` first (or pass --config)`);
    }
    throw new UsageError(`cannot read config ${path}: ${(err as Error).message}`);
  }
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new UsageError(`config ${path} is not valid JSON`);
  }
  for (const field of ['url', 'runnerId', 'runnerToken'] as const) {
    if (typeof data[field] !== 'string' || data[field] === '') throw new UsageError(`config ${path} lacks "${field}": register again`);
  }
  return {
    url: data.url as string,
    runnerId: data.runnerId as string,
    runnerToken: data.runnerToken as string,
    previousRunnerToken: typeof data.previousRunnerToken === 'string' && data.previousRunnerToken !== '' ? data.previousRunnerToken : undefined,
    name: typeof data.name === 'string' ? data.name : undefined,
    labels: Array.isArray(data.labels) ? data.labels.filter((l): l is string => typeof l === 'string') : undefined,
    caFile: typeof data.caFile === 'string' ? data.caFile : undefined,
  };
}

/**
 * Writes the config with mode 0600, atomically and durably: a temp file, fsync, rename, fsync of
 * the directory. A crash (even of the machine) leaves the old file or the new one, never half.
 */
export async function saveConfig(path: string, config: StoredConfig): Promise<void> {
  await fs.mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  const file = await fs.open(temp, 'w', 0o600);
  try {
    await file.writeFile(`${JSON.stringify(config, null, 2)}\n`);
    await file.chmod(0o600); // the umask cannot widen it, but an existing temp file might
    await file.sync();
  } finally {
    await file.close();
  }
  await fs.rename(temp, path);
  const dir = await fs.open(dirname(path), 'r');
  try {
    await dir.sync();
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  } finally {
    await dir.close();
  }
}

export async function removeConfig(path: string): Promise<void> {
  await fs.rm(path, { force: true });
}

export function configExists(path: string): boolean {
  return existsSync(path);
}

/** `--flag` (or `ENV`), for messages. */
export function describe(flag: string): string {
  const spec = OPTIONS.find((o) => o.flag === flag);
  return spec?.env ? `--${flag} (or ${spec.env})` : `--${flag}`;
}

function common(read: Reader, env: NodeJS.ProcessEnv, storedCaFile?: string): CommonSettings {
  const level = read.string('log-level') ?? 'info';
  if (!isLogLevel(level)) throw new UsageError(`${describe('log-level')} must be debug, info, warn or error (got '${level}')`);
  const format = read.string('log-format') ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`${describe('log-format')} must be text or json (got '${format}')`);
  const caFile = read.string('ca-file') ? resolve(read.string('ca-file') as string) : storedCaFile;
  let ca: Buffer | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new UsageError(`cannot read ${describe('ca-file')} ${caFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return {
    configPath: resolve(read.string('config') || defaultConfigPath(env)),
    caFile,
    ca,
    proxy: readProxyEnv(env),
    requestTimeoutMs: parseSeconds(read.string('request-timeout') ?? '30', 'request-timeout', 1, 3600) * 1000,
    logLevel: level,
    logFormat: format,
  };
}

interface Reader {
  string(flag: string): string | undefined;
  boolean(flag: string): boolean;
}

function reader(flags: Flags, env: NodeJS.ProcessEnv): Reader {
  const envOf = (flag: string): string | undefined => {
    const name = OPTIONS.find((o) => o.flag === flag)?.env;
    const value = name ? env[name] : undefined;
    return value === undefined || value === '' ? undefined : value;
  };
  return {
    string(flag) {
      const value = flags[flag];
      return typeof value === 'string' ? value : envOf(flag);
    },
    boolean(flag) {
      if (flags[flag] === true) return true;
      const value = envOf(flag);
      if (value === undefined) return false;
      if (/^(1|true|yes|on)$/i.test(value)) return true;
      if (/^(0|false|no|off)$/i.test(value)) return false;
      throw new UsageError(`${describe(flag)} must be true or false (got '${value}')`);
    },
  };
}

function workDir(read: Reader): string {
  return resolve(read.string('work-dir') || os.tmpdir());
}

function parseUrl(value: string | undefined, flag: string): string {
  if (!value) throw new UsageError(`the orchestrator url is required: ${describe(flag)}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${describe(flag)} is not a url (got '${value}')`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`${describe(flag)} must be an http:// or https:// url (got '${value}')`);
  }
  if (url.username || url.password) throw new UsageError(`${describe(flag)} must not carry credentials`);
  return url.href.replace(/\/+$/, '');
}

function parseInteger(value: string, flag: string, min: number): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < min) {
    throw new UsageError(`${describe(flag)} must be a whole number ≥ ${min} (got '${value}')`);
  }
  return Number(value);
}

function parseSeconds(value: string, flag: string, min: number, max: number): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < min || seconds > max) {
    throw new UsageError(`${describe(flag)} must be a number of seconds between ${min} and ${max} (got '${value}')`);
  }
  return seconds;
}

function safeUsername(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'runner';
  }
}
