import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { InvalidInput } from './errors';
import { hmac } from './secrets';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;

export class PageQuery {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_LIMIT)
  limit?: number;

  @ApiPropertyOptional({ description: 'Opaque cursor from a previous page (`next_cursor`).' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * Opaque, signed cursors: the position (a row's `seq`) plus an HMAC, so that a cursor the server
 * did not issue is refused with 400 instead of silently paging from a forged position. The key is
 * shared by every orchestrator process (it is derived from the admin token).
 */
export class CursorCodec {
  constructor(private readonly key: string) {}

  encode(kind: string, seq: string): string {
    const payload = Buffer.from(`${kind}:${seq}`).toString('base64url');
    const mac = hmac(this.key, payload).subarray(0, 12).toString('base64url');
    return `${payload}.${mac}`;
  }

  /** The `seq` a cursor points at; throws InvalidInput for anything this server did not issue. */
  decode(kind: string, cursor: string): string {
    const parts = cursor.split('.');
    const [payload, mac] = parts;
    if (parts.length === 2 && payload && mac) {
      const expected = hmac(this.key, payload).subarray(0, 12).toString('base64url');
      if (expected === mac) {
        const [k, seq] = Buffer.from(payload, 'base64url').toString().split(':');
        if (k === kind && /^\d+$/.test(seq ?? '')) return seq;
      }
    }
    throw new InvalidInput('cursor is not one this server issued: use next_cursor from a previous page');
  }

  /** Builds a page from `limit + 1` rows fetched in order. */
  page<R extends { seq: string }, T>(kind: string, rows: R[], limit: number, map: (row: R) => T): Page<T> {
    const more = rows.length > limit;
    const items = more ? rows.slice(0, limit) : rows;
    return {
      items: items.map(map),
      next_cursor: more ? this.encode(kind, items[items.length - 1].seq) : null,
    };
  }
}
