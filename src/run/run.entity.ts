import { Column, Entity, PrimaryColumn } from 'typeorm';
import { RunState } from './run-state';

/**
 * One execution of a script against one repository on one runner. Columns are snake_case in SQL;
 * the hot paths read them with plain SQL (run.repository.ts), so `RunRow` below is the shape most
 * code sees.
 */
@Entity('run')
export class Run {
  @PrimaryColumn('uuid') id: string;
  @Column('uuid', { name: 'batch_id' }) batchId: string;
  @Column('text') namespace: string;
  @Column('text') repo: string;
  @Column('text', { array: true }) script: string[];
  @Column('jsonb') env: Record<string, string>;
  @Column('jsonb', { nullable: true }) payload: Record<string, unknown> | null;
  @Column('integer') timeout: number;
  @Column('text', { array: true }) labels: string[];
  @Column('text', { nullable: true }) framework: string | null;
  @Column('integer', { name: 'res_cpu' }) resCpu: number;
  @Column('integer', { name: 'res_memory' }) resMemory: number;
  @Column('integer', { name: 'res_disk' }) resDisk: number;
  @Column('integer') priority: number;
  @Column('integer', { name: 'max_attempts' }) maxAttempts: number;
  @Column('integer') attempt: number;
  @Column('text') state: RunState;
  @Column('uuid', { name: 'runner_id', nullable: true }) runnerId: string | null;
  @Column('uuid', { name: 'message_id', nullable: true }) messageId: string | null;
  @Column('boolean') acknowledged: boolean;
  @Column('timestamptz', { name: 'cancel_requested_at', nullable: true }) cancelRequestedAt: Date | null;
  @Column('text', { nullable: true }) reason: string | null;
  @Column('integer', { name: 'exit_code', nullable: true }) exitCode: number | null;
  @Column('jsonb', { nullable: true }) result: Record<string, unknown> | null;
  @Column('bigint', { name: 'log_offset' }) logOffset: string;
  @Column('bigint', { name: 'log_stored' }) logStored: string;
  @Column('boolean', { name: 'logs_pruned' }) logsPruned: boolean;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'dispatched_at', nullable: true }) dispatchedAt: Date | null;
  @Column('timestamptz', { name: 'started_at', nullable: true }) startedAt: Date | null;
  @Column('timestamptz', { name: 'finished_at', nullable: true }) finishedAt: Date | null;
  @Column({ type: 'bigint', insert: false, update: false }) seq: string;
  @Column('text', { nullable: true }) image: string | null;
  /** Names of the namespace's secrets the run receives (values only in its assignment). */
  @Column('text', { array: true }) secrets: string[];
}

/** A `run` row as plain SQL returns it. */
export interface RunRow {
  id: string;
  batch_id: string;
  namespace: string;
  repo: string;
  script: string[];
  env: Record<string, string>;
  payload: Record<string, unknown> | null;
  timeout: number;
  labels: string[];
  framework: string | null;
  res_cpu: number;
  res_memory: number;
  res_disk: number;
  priority: number;
  max_attempts: number;
  attempt: number;
  state: RunState;
  runner_id: string | null;
  message_id: string | null;
  acknowledged: boolean;
  cancel_requested_at: Date | null;
  reason: string | null;
  exit_code: number | null;
  result: Record<string, unknown> | null;
  log_offset: string;
  log_stored: string;
  logs_pruned: boolean;
  created_at: Date;
  dispatched_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  seq: string;
  image: string | null;
  secrets: string[];
}
