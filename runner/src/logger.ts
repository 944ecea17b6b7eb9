/**
 * The runner's own log: one readable, greppable line per event on stderr, in logfmt style:
 *
 *   2025-01-02T03:04:05.678Z INFO  run started run=9f1c… attempt=1 repo=https://git.example/x.git
 *
 * or, with `--log-format json`, one JSON object per line for log shippers:
 *
 *   {"time":"2025-01-02T03:04:05.678Z","level":"info","message":"run started","run":"9f1c…","attempt":1}
 *
 * Secrets never reach it: callers pass run ids, urls and counters, never the runner token, and
 * urls go through redactUrl() so credentials embedded in a repository url are masked. As a last
 * guard every line is scrubbed of token-shaped strings, bearer credentials and url passwords.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';
export type LogFields = Record<string, string | number | boolean | undefined | null>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export function isLogLevel(value: string): value is LogLevel {
  return value in ORDER;
}

/** Token-shaped strings, bearer credentials and url passwords. */
const SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/\b(pulse_[a-z]{2,4})_[A-Za-z0-9_-]{8,}/g, '$1_***'],
  [/\b(Bearer\s+)[^\s"',]+/gi, '$1***'],
  [/\b([a-z][a-z0-9+.-]*:\/\/[^:/@\s"']+:)[^@\s"']+@/gi, '$1***@'],
];

/** Masks anything secret-looking in one log line. */
export function scrubSecrets(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

const RESERVED = new Set(['time', 'level', 'message']);

/** A logger writing to `write` (stderr by default), dropping lines below `level`. */
export function createLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stderr.write(line),
  format: LogFormat = 'text',
): Logger {
  const emit = (lineLevel: LogLevel, message: string, fields?: LogFields): void => {
    if (ORDER[lineLevel] < ORDER[level]) return;
    const time = new Date().toISOString();
    if (format === 'json') {
      const entry: Record<string, string | number | boolean> = { time, level: lineLevel, message };
      for (const [key, value] of Object.entries(fields ?? {})) {
        if (value !== undefined && value !== null) entry[RESERVED.has(key) ? `field_${key}` : key] = value;
      }
      write(`${scrubSecrets(JSON.stringify(entry))}\n`);
      return;
    }
    const tag = lineLevel.toUpperCase().padEnd(5);
    write(scrubSecrets(`${time} ${tag} ${message}${formatFields(fields)}\n`));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

/** A logger that drops everything (tests that do not look at the runner's own log). */
export const silentLogger: Logger = createLogger('error', () => undefined);

function formatFields(fields: LogFields | undefined): string {
  if (!fields) return '';
  let out = '';
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    const text = String(value);
    out += ` ${key}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`;
  }
  return out;
}

/** Masks the password (or token) of `user:secret@host` urls; other strings come back unchanged. */
export function redactUrl(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/i, (_all, scheme: string, userinfo: string) => {
    const user = userinfo.split(':')[0];
    return `${scheme}${user ? `${user}:***` : '***'}@`;
  });
}

/** One line for any thrown value, without a stack trace. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
