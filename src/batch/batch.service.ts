import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { Caller, seesNamespace } from '../auth/scopes';
import { Cursors } from '../common/common.module';
import { NotFound } from '../common/errors';
import { DEFAULT_LIMIT, Page } from '../common/pagination';
import { BatchResponse, BatchRow, BatchSummary, mapBatchSummary } from './batch.dto';

/** The run states a batch view groups by (run/run-state.ts; batch sits below run). */
const GROUPS = ['waiting', 'running', 'finished', 'failed', 'canceled', 'timeout'] as const;

@Injectable()
export class BatchService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly cursors: Cursors,
  ) {}

  /** Inside the submission's transaction. */
  async create(tx: EntityManager, id: string, namespace: string): Promise<void> {
    await tx.query(`INSERT INTO batch (id, namespace) VALUES ($1, $2)`, [id, namespace]);
  }

  /** Batches, newest first; a namespace-bound caller sees its namespaces' only. */
  async list(query: { namespace?: string; limit?: number; cursor?: string }, caller?: Caller): Promise<Page<BatchSummary>> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const before = query.cursor ? this.cursors.decode('batch', query.cursor) : null;
    const rows: BatchRow[] = await this.db.query(
      `SELECT id, namespace, created_at, seq FROM batch
       WHERE ($1::text IS NULL OR namespace = $1) AND ($2::bigint IS NULL OR seq < $2)
         AND ($4::text[] IS NULL OR namespace = ANY($4))
       ORDER BY seq DESC LIMIT $3`,
      [query.namespace ?? null, before, limit + 1, caller?.namespaces ?? null],
    );
    return this.cursors.page('batch', rows, limit, mapBatchSummary);
  }

  async get(id: string, caller?: Caller): Promise<BatchResponse> {
    const rows: BatchRow[] = await this.db.query(`SELECT id, namespace, created_at, seq FROM batch WHERE id = $1`, [id]);
    if (!rows.length || !seesNamespace(caller, rows[0].namespace)) throw new NotFound(`batch ${id} does not exist`);
    const groups: Array<{ state: string; ids: string[] }> = await this.db.query(
      `SELECT state, array_agg(id ORDER BY seq) AS ids FROM run WHERE batch_id = $1 GROUP BY state`,
      [id],
    );
    const byState = new Map(groups.map((g) => [g.state, g.ids]));
    const response = mapBatchSummary(rows[0]) as BatchResponse;
    for (const state of GROUPS) response[`run_${state}`] = byState.get(state) ?? [];
    return response;
  }

  /** Whether the batch exists and the caller may see it. */
  async exists(id: string, caller?: Caller): Promise<boolean> {
    const rows: Array<{ namespace: string }> = await this.db.query(`SELECT namespace FROM batch WHERE id = $1`, [id]);
    return rows.length > 0 && seesNamespace(caller, rows[0].namespace);
  }
}
