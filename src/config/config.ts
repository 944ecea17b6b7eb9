import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { formatKey, KeyRingError, newKey, parseKeyRing, type SecretKey } from '../secret/secret-crypto';

/**
 * Pulse's whole configuration: one typed object, validated once at boot from the environment
 * (SPEC section 6). Nothing reads `process.env` after this.
 */
export interface PulseConfig {
  port: number;
  host: string;
  /** Unset: the embedded PostgreSQL (PGlite) under `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  adminToken: string;
  registrationToken: string;
  /** Seconds: told to runners as the pace of their heartbeats. */
  heartbeatInterval: number;
  /** Seconds without a heartbeat after which a runner is dead. */
  runnerDeadAfter: number;
  /** Seconds: the longest a heartbeat may wait for work. */
  longPollMax: number;
  /** Seconds without a heartbeat after which a runner's instances are placed elsewhere (SPEC section 10). */
  instanceLostAfter: number;
  /** Seconds a running run may take to confirm a cancel before it is canceled anyway. */
  cancelGrace: number;
  /** Seconds: the deadline of a run submitted without `timeout`. */
  runDefaultTimeout: number;
  maxAttempts: number;
  logMaxBytes: number;
  /** Seconds between two sweeps of dead runners, deadlines and cancel grace. */
  sweepInterval: number;
  /** Requests a runner may make per second on the runner routes (burst: twice that). */
  runnerRateLimit: number;
  bodyLimitBytes: number;
  /** Connections per process to a real PostgreSQL (the embedded one always uses exactly one). */
  dbPoolSize: number;
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  logLevel: 'error' | 'warn' | 'log' | 'debug';
  /** Seconds a runner token lives (rotated in its last quarter); 0: forever (SPEC section 12). */
  runnerTokenTtl: number;
  /** Seconds an event of the feed is kept (GET /api/events); an older `after` gets `resync`. */
  eventsRetention: number;
  /** Seconds without a frame after which a feed or log stream gets a keep-alive comment. */
  eventsKeepAlive: number;
  /** LOG_FORMAT: `text` (Nest's coloured lines) or `json` (one JSON object per line, for log shippers). */
  logFormat: 'text' | 'json';
  /** LOG_RETENTION_DAYS: logs of runs final for longer are dropped; 0 keeps them forever. */
  logRetentionDays: number;
  /** RUN_RETENTION_DAYS: runs final for longer are deleted (and batches left empty); 0 keeps them forever. */
  runRetentionDays: number;
  /** SECRETS_KEYS: the first key encrypts secrets, every key decrypts (src/secret/). */
  secretsKeys: SecretKey[];
}

export class ConfigError extends Error {}

type Env = Record<string, string | undefined>;

const SECRETS_FILE = 'secrets.json';

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) {
    throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  }
  const value = Number(raw.trim());
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

/** A number of days, fractions allowed (tests use a few seconds' worth); 0 means forever. */
function days(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || Number(raw.trim()) > 36500) {
    throw new ConfigError(`${name} must be a number of days between 0 (forever) and 36500, got "${raw}"`);
  }
  return Number(raw.trim());
}

/** Like `int`, but seconds may be fractional so tests can use sub-second intervals. */
function seconds(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+(\.\d+)?$/.test(raw.trim())) {
    throw new ConfigError(`${name} must be a number of seconds, got "${raw}"`);
  }
  const value = Number(raw.trim());
  if (value < min || value > max) {
    throw new ConfigError(`${name} must be between ${min} and ${max} seconds, got ${value}`);
  }
  return value;
}

function token(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (raw.length < 16 || /\s/.test(raw)) {
    throw new ConfigError(`${name} must be at least 16 characters with no spaces`);
  }
  return raw;
}

export interface GeneratedSecrets {
  adminToken?: string;
  registrationToken?: string;
  /** The path of a secrets key generated on this start (the key itself is never printed). */
  secretsKeyFile?: string;
}

const SECRETS_KEY_FILE = 'secrets.key';

/**
 * The key ring: SECRETS_KEYS, else the one key kept in `DATA_DIR/secrets.key` (mode 0600),
 * generated on the first start. A bad value names the variable (or the file), never a key.
 */
function loadKeyRing(env: Env, dataDir: string): { ring: SecretKey[]; generatedFile?: string } {
  try {
    if (env.SECRETS_KEYS) return { ring: parseKeyRing(env.SECRETS_KEYS) };
    const path = join(dataDir, SECRETS_KEY_FILE);
    if (existsSync(path)) return { ring: parseKeyRing(readFileSync(path, 'utf8').trim(), path) };
    const key = newKey('default');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(path, formatKey(key) + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
    return { ring: [key], generatedFile: path };
  } catch (err) {
    if (err instanceof KeyRingError) throw new ConfigError(err.message);
    throw err;
  }
}

/**
 * Reads the secrets generated on an earlier start from `dataDir`, generating (and reporting) the
 * ones still missing. The file is created with mode 0600.
 */
function loadOrGenerateSecrets(
  dataDir: string,
  need: { admin: boolean; registration: boolean },
): { secrets: Required<Omit<GeneratedSecrets, 'secretsKeyFile'>>; generated: GeneratedSecrets } {
  const path = join(dataDir, SECRETS_FILE);
  let stored: GeneratedSecrets = {};
  if (existsSync(path)) {
    try {
      stored = JSON.parse(readFileSync(path, 'utf8')) as GeneratedSecrets;
    } catch {
      throw new ConfigError(`DATA_DIR holds an unreadable ${SECRETS_FILE}: fix or remove ${path}`);
    }
  }
  const generated: GeneratedSecrets = {};
  if (need.admin && !stored.adminToken) {
    generated.adminToken = stored.adminToken = `pulse_at_${randomBytes(24).toString('base64url')}`;
  }
  if (need.registration && !stored.registrationToken) {
    generated.registrationToken = stored.registrationToken = `pulse_reg_${randomBytes(24).toString(
      'base64url',
    )}`;
  }
  if (generated.adminToken || generated.registrationToken) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(path, JSON.stringify(stored, null, 2) + '\n', { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  return {
    secrets: { adminToken: stored.adminToken ?? '', registrationToken: stored.registrationToken ?? '' },
    generated,
  };
}

export interface LoadedConfig {
  config: PulseConfig;
  /** Secrets made on this start: printed once by main.ts, never logged again. */
  generated: GeneratedSecrets;
}

/** Validates the environment; a bad value throws a ConfigError that names the variable. */
export function loadConfig(env: Env = process.env): LoadedConfig {
  const dataDir = resolve(env.DATA_DIR || './data');
  const databaseUrl = env.DATABASE_URL || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL must be a postgres:// or postgresql:// URL');
  }
  const adminToken = token(env, 'ADMIN_TOKEN');
  const registrationToken = token(env, 'RUNNER_REGISTRATION_TOKEN');
  if (adminToken && registrationToken && adminToken === registrationToken) {
    throw new ConfigError('ADMIN_TOKEN and RUNNER_REGISTRATION_TOKEN must differ');
  }
  const tlsCert = env.TLS_CERT || undefined;
  const tlsKey = env.TLS_KEY || undefined;
  if (Boolean(tlsCert) !== Boolean(tlsKey)) {
    throw new ConfigError('TLS_CERT and TLS_KEY must be set together');
  }
  for (const [name, file] of [['TLS_CERT', tlsCert], ['TLS_KEY', tlsKey]] as const) {
    if (file && !existsSync(file)) throw new ConfigError(`${name} names a file that does not exist: ${file}`);
  }
  const host = env.HOST || '0.0.0.0';
  const logLevel = (env.LOG_LEVEL || 'log') as PulseConfig['logLevel'];
  if (!['error', 'warn', 'log', 'debug'].includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL must be one of error, warn, log, debug');
  }
  const logFormat = (env.LOG_FORMAT || 'text') as PulseConfig['logFormat'];
  if (!['text', 'json'].includes(logFormat)) {
    throw new ConfigError('LOG_FORMAT must be text or json');
  }

  const config: PulseConfig = {
    port: int(env, 'PORT', 3000, 0, 65535),
    host,
    databaseUrl,
    dataDir,
    adminToken: adminToken ?? '',
    registrationToken: registrationToken ?? '',
    heartbeatInterval: seconds(env, 'HEARTBEAT_INTERVAL', 10, 0.1, 3600),
    runnerDeadAfter: seconds(env, 'RUNNER_DEAD_AFTER', 30, 0.5, 86400),
    longPollMax: seconds(env, 'LONG_POLL_MAX', 25, 0, 300),
    instanceLostAfter: seconds(env, 'INSTANCE_LOST_AFTER', 300, 0.5, 30 * 86400),
    cancelGrace: seconds(env, 'CANCEL_GRACE', 30, 0, 86400),
    runDefaultTimeout: int(env, 'RUN_DEFAULT_TIMEOUT', 3600, 1, 30 * 86400),
    maxAttempts: int(env, 'MAX_ATTEMPTS', 2, 1, 100),
    logMaxBytes: int(env, 'LOG_MAX_BYTES', 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    sweepInterval: seconds(env, 'SWEEP_INTERVAL', 1, 0.05, 3600),
    runnerRateLimit: int(env, 'RUNNER_RATE_LIMIT', 50, 1, 100000),
    bodyLimitBytes: int(env, 'BODY_LIMIT_BYTES', 8 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    dbPoolSize: int(env, 'DB_POOL_SIZE', 20, 1, 1000),
    tlsCert,
    tlsKey,
    logLevel,
    runnerTokenTtl: seconds(env, 'RUNNER_TOKEN_TTL', 2592000, 0, 10 * 365 * 86400),
    eventsRetention: seconds(env, 'EVENTS_RETENTION', 86400, 0.001, 365 * 86400),
    eventsKeepAlive: seconds(env, 'EVENTS_KEEPALIVE', 15, 0.05, 3600),
    logFormat,
    logRetentionDays: days(env, 'LOG_RETENTION_DAYS', 30),
    runRetentionDays: days(env, 'RUN_RETENTION_DAYS', 0),
    secretsKeys: [],
  };
  if (config.runnerDeadAfter <= config.heartbeatInterval) {
    throw new ConfigError('RUNNER_DEAD_AFTER must be longer than HEARTBEAT_INTERVAL');
  }
  if (config.runnerDeadAfter <= config.longPollMax) {
    throw new ConfigError('RUNNER_DEAD_AFTER must be longer than LONG_POLL_MAX');
  }

  let generated: GeneratedSecrets = {};
  if (!adminToken || !registrationToken) {
    const loaded = loadOrGenerateSecrets(dataDir, { admin: !adminToken, registration: !registrationToken });
    config.adminToken ||= loaded.secrets.adminToken;
    config.registrationToken ||= loaded.secrets.registrationToken;
    generated = loaded.generated;
  }
  const keys = loadKeyRing(env, dataDir);
  config.secretsKeys = keys.ring;
  if (keys.generatedFile) generated = { ...generated, secretsKeyFile: keys.generatedFile };
  return { config, generated };
}
