import { ConsoleLogger, ConsoleLoggerOptions, LogLevel } from '@nestjs/common';
import { secretScrubber } from './log-lines';

/** Start-up chatter of Nest itself: one line per module and route, shown only with LOG_LEVEL=debug. */
const CHATTY = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

export interface QuietLoggerOptions extends ConsoleLoggerOptions {
  logLevels?: LogLevel[];
  /** Values never to print (tokens, the database password); token-shaped strings are masked too. */
  secrets?: Array<string | undefined>;
}

/**
 * Nest's console logger without its start-up chatter at the `log` level, with secrets masked in
 * every message and stack. With `json` (LOG_FORMAT=json) each entry is one JSON object per line
 * (Nest's own json mode: level, pid, timestamp, message, context), for log shippers.
 */
export class QuietLogger extends ConsoleLogger {
  private readonly scrub: (text: string) => string;

  constructor(options: QuietLoggerOptions = {}) {
    const { secrets = [], ...rest } = options;
    super(rest.json ? { ...rest, colors: false, compact: true } : rest);
    this.scrub = secretScrubber(secrets);
  }

  log(message: unknown, context?: string): void {
    if (context && CHATTY.has(context)) {
      if (this.isLevelEnabled('debug')) super.log(message, context);
      return;
    }
    super.log(message, context);
  }

  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
    params?: Record<string, unknown>,
  ): void {
    const clean = (value: unknown): unknown => {
      if (typeof value === 'string') return this.scrub(value);
      if (value instanceof Error) {
        const copy = new Error(this.scrub(value.message));
        copy.name = value.name;
        copy.stack = value.stack === undefined ? undefined : this.scrub(value.stack);
        return copy;
      }
      return value;
    };
    super.printMessages(messages.map(clean), context, logLevel, writeStreamType, clean(errorStack), params);
  }
}
