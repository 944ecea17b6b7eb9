import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';

/** The JSON error shape every failure gets (SPEC section 7). */
export class ErrorResponse {
  @ApiProperty({ example: 400 })
  statusCode: number;

  @ApiProperty({
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    example: 'namespace_name must be 1–63 letters, digits, ".", "_" or "-"',
  })
  message: string | string[];

  @ApiProperty({ example: 'Bad Request' })
  error: string;

  @ApiPropertyOptional({ description: 'With 416: the byte offset the server expects next.' })
  expectedOffset?: number;
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'The body or query failed validation; the message names the field',
  401: 'No or wrong bearer token',
  403: 'Runner deregistered (blacklisted), or the id does not match the token',
  404: 'No such thing',
  409: 'Conflict with the current state (stale lease, final run, ...)',
  410: 'Removed on purpose (a log dropped by LOG_RETENTION_DAYS)',
  413: 'Body over its limit',
  416: 'Log offset gap: resend from expectedOffset',
  429: 'Over the rate limit; see Retry-After',
  503: 'The database is unreachable; retry',
};

/** Documents the error statuses a route can answer. */
export function ApiErrors(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((status) => ApiResponse({ status, description: DESCRIPTIONS[status], type: ErrorResponse })),
  );
}
