import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { DomainError, DomainErrorKind, RateLimited } from './errors';

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

function statusOf(kind: DomainErrorKind): number {
  switch (kind) {
    case 'invalid':
      return 400;
    case 'unauthenticated':
      return 401;
    case 'forbidden':
      return 403;
    case 'not-found':
      return 404;
    case 'conflict':
      return 409;
    case 'gone':
      return 410;
    case 'offset-gap':
      return 416;
    case 'rate-limited':
      return 429;
    case 'unavailable':
      return 503;
  }
}

/** Error codes of `pg` and Node that mean "the database cannot be reached right now". */
const DB_DOWN_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
]);

export function isDatabaseUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { code?: unknown; message?: unknown; driverError?: unknown };
  if (typeof e.code === 'string' && DB_DOWN_CODES.has(e.code)) return true;
  const message = typeof e.message === 'string' ? e.message : '';
  if (
    /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Connection is not established|the database system is (starting up|shutting down)|terminating connection/i.test(
      message,
    )
  ) {
    return true;
  }
  return e.driverError !== undefined && e.driverError !== err && isDatabaseUnavailable(e.driverError);
}

/**
 * PostgreSQL error codes for a character it cannot store: a NUL (`\u0000`) in text (22021) or in
 * jsonb (22P05). Only input carries those, so they are the caller's fault, not the server's.
 */
const UNSTORABLE_TEXT_CODES = new Set(['22021', '22P05']);

function isUnstorableText(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = e?.code ?? e?.driverError?.code;
  return typeof code === 'string' && UNSTORABLE_TEXT_CODES.has(code);
}

/**
 * A JSON parser's message without the excerpt of the body it quotes (Node's JSON.parse cites the
 * text): the body may hold a secret's value, which no error message may ever contain.
 */
function withoutQuotes(message: string): string {
  return message.replace(/".*"/s, '"…"').replace(/token '.+?'/s, 'token');
}

export interface ErrorBody {
  statusCode: number;
  message: string | string[];
  error: string;
  [extra: string]: unknown;
}

/**
 * Turns anything thrown into the JSON error shape of SPEC section 7: `statusCode`, `message`,
 * `error`. Never a stack trace in a response; unexpected errors are logged and answered 500.
 */
export function toErrorBody(exception: unknown, logger: Logger): { body: ErrorBody; headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  if (exception instanceof DomainError) {
    const statusCode = statusOf(exception.kind);
    if (exception instanceof RateLimited) headers['retry-after'] = String(exception.retryAfterSeconds);
    return {
      body: { statusCode, message: exception.message, error: STATUS_TEXT[statusCode], ...exception.extra },
      headers,
    };
  }
  if (exception instanceof HttpException) {
    const statusCode = exception.getStatus();
    const response = exception.getResponse();
    if (typeof response === 'object' && response !== null) {
      const r = response as Partial<ErrorBody>;
      return {
        body: {
          ...r,
          statusCode,
          message: r.message ?? exception.message,
          error: r.error ?? STATUS_TEXT[statusCode] ?? 'Error',
        },
        headers,
      };
    }
    return { body: { statusCode, message: String(response), error: STATUS_TEXT[statusCode] ?? 'Error' }, headers };
  }
  // Errors raised by Fastify itself before a route runs (body parsing, size limit, media type).
  const fastifyError = exception as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (
    typeof fastifyError?.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500 &&
    typeof fastifyError.code === 'string' &&
    fastifyError.code.startsWith('FST_')
  ) {
    const statusCode = fastifyError.statusCode;
    let message = typeof fastifyError.message === 'string' ? fastifyError.message : 'Bad request';
    if (statusCode === 413) message = 'Request body is larger than the limit';
    if (fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/.test(message)) {
      message = `Body is not valid JSON: ${withoutQuotes(message)}`;
    }
    return { body: { statusCode, message, error: STATUS_TEXT[statusCode] ?? 'Error' }, headers };
  }
  if (exception instanceof SyntaxError) {
    return { body: { statusCode: 400, message: `Body is not valid JSON: ${withoutQuotes(exception.message)}`, error: 'Bad Request' }, headers };
  }
  if (isUnstorableText(exception)) {
    return {
      body: { statusCode: 400, message: 'The input holds a character that cannot be stored (NUL, \\u0000)', error: 'Bad Request' },
      headers,
    };
  }
  if (isDatabaseUnavailable(exception)) {
    headers['retry-after'] = '5';
    logger.warn(`database unavailable: ${(exception as Error).message}`);
    return { body: { statusCode: 503, message: 'The database is unavailable; retry shortly', error: STATUS_TEXT[503] }, headers };
  }
  logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
  return { body: { statusCode: 500, message: 'Internal server error', error: STATUS_TEXT[500] }, headers };
}

@Catch()
export class DomainErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const { body, headers } = toErrorBody(exception, this.logger);
    if (reply.sent) return;
    void reply.status(body.statusCode).headers(headers).send(body);
  }
}
