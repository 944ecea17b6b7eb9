import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, IsString, IsUUID, Matches, Max, Min } from 'class-validator';
import { NAME_PATTERN } from '../common/validation';

/** The kinds of event the feed carries (`instance` once section 10 exists). */
export const EVENT_KINDS = ['run', 'batch', 'runner', 'namespace', 'instance'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

const KINDS_PATTERN = new RegExp(`^(${EVENT_KINDS.join('|')})(,(${EVENT_KINDS.join('|')}))*$`);

export class EventQuery {
  @ApiPropertyOptional({
    description: 'Replay every event after this id, then go live (the Last-Event-ID header wins over it). Without either: start at now.',
    minimum: 0,
    example: 1234,
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  after?: number;

  @ApiPropertyOptional({ description: `Comma-separated kinds to receive: ${EVENT_KINDS.join(', ')}`, example: 'run,batch' })
  @IsOptional()
  @IsString()
  @Matches(KINDS_PATTERN, { message: `kinds must be a comma-separated list of ${EVENT_KINDS.join(', ')}` })
  kinds?: string;

  @ApiPropertyOptional({ description: 'Only events of this namespace (and those of none, such as runner events)' })
  @IsOptional()
  @IsString()
  @Matches(NAME_PATTERN, { message: 'namespace must be 1–63 letters, digits, ".", "_" or "-"' })
  namespace?: string;

  @ApiPropertyOptional({ format: 'uuid', description: 'Only events of this batch (and those of none, such as runner events)' })
  @IsOptional()
  @IsUUID()
  batch?: string;
}

/** What a reader wants; null fields do not filter. */
export interface EventFilter {
  kinds: string[] | null;
  namespace: string | null;
  batch: string | null;
}

/** One numbered event as the feed sends it: `data` is its one-line JSON text. */
export interface FeedEvent {
  seq: number;
  kind: string;
  namespace: string | null;
  batch: string | null;
  data: string;
}

export function matches(filter: EventFilter, e: FeedEvent): boolean {
  return (
    (filter.kinds === null || filter.kinds.includes(e.kind)) &&
    (filter.namespace === null || e.namespace === null || e.namespace === filter.namespace) &&
    (filter.batch === null || e.batch === null || e.batch === filter.batch)
  );
}
