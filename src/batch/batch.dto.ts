import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches } from 'class-validator';
import { PageQuery } from '../common/pagination';
import { NAME_PATTERN } from '../common/validation';

export class BatchListQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Only batches of this namespace' })
  @IsOptional()
  @IsString()
  @Matches(NAME_PATTERN, { message: 'namespace must be 1–63 letters, digits, ".", "_" or "-"' })
  namespace?: string;
}

export class BatchSummary {
  @ApiProperty({ format: 'uuid' })
  batch_id: string;

  @ApiProperty()
  namespace: string;

  @ApiProperty({ format: 'date-time' })
  created_at: string;
}

export class BatchListResponse {
  @ApiProperty({ type: [BatchSummary] })
  items: BatchSummary[];

  @ApiProperty({ type: String, nullable: true })
  next_cursor: string | null;

  @ApiProperty({ type: 'integer', description: 'The newest event id when this list was read: pass it as GET /api/events?after= to follow from here' })
  event_cursor: number;
}

export class BatchResponse extends BatchSummary {
  @ApiProperty({ type: [String] }) run_waiting: string[];
  @ApiProperty({ type: [String] }) run_running: string[];
  @ApiProperty({ type: [String] }) run_finished: string[];
  @ApiProperty({ type: [String] }) run_failed: string[];
  @ApiProperty({ type: [String] }) run_canceled: string[];
  @ApiProperty({ type: [String] }) run_timeout: string[];
}

export interface BatchRow {
  id: string;
  namespace: string;
  created_at: Date;
  seq: string;
}

export function mapBatchSummary(row: BatchRow): BatchSummary {
  return { batch_id: row.id, namespace: row.namespace, created_at: row.created_at.toISOString() };
}
