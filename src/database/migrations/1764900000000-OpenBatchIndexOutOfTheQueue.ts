import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The claim reads the queue through `run_waiting_queue` (namespace, priority DESC, seq WHERE
 * state = 'waiting'): the waiting runs of a namespace in the order they are taken, so a claim
 * reads a few index entries however long the queue. It did not always: the claim is a prepared
 * statement whose generic plan estimates its runner filters (labels, framework, resources,
 * executor) with default selectivities, so a handful of rows, and with statistics taken while no
 * run waited (autovacuum analyzes a quiet table, after a drain) a handful becomes one. For one
 * row a sort is free, and the planner read the queue through the smallest index whose predicate
 * `state = 'waiting'` implies: `run_open_batch` (batch_id WHERE state IN ('waiting', 'running')).
 * Every claim then read and sorted every waiting run: 12 ms a claim with 20,000 waiting instead
 * of 0.1 ms, and PostgreSQL at 130 % of the 2 cores instead of 80 % in bench scenario 12.
 *
 * `run_open_batch` answers "does this batch still have an open run?" (`batch_id = $1 AND state
 * IN (...)`). Its predicate gains `batch_id IS NOT NULL`, always true (the column is NOT NULL):
 * a `batch_id = ...` condition implies it, so that question still uses the index, and the claim,
 * which names no batch, cannot use it any more.
 */
export class OpenBatchIndexOutOfTheQueue1764900000000 implements MigrationInterface {
  name = 'OpenBatchIndexOutOfTheQueue1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX run_open_batch_v2 ON run (batch_id) WHERE state IN ('waiting', 'running') AND batch_id IS NOT NULL`);
    await q.query(`DROP INDEX run_open_batch`);
    await q.query(`ALTER INDEX run_open_batch_v2 RENAME TO run_open_batch`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX run_open_batch_v1 ON run (batch_id) WHERE state IN ('waiting', 'running')`);
    await q.query(`DROP INDEX run_open_batch`);
    await q.query(`ALTER INDEX run_open_batch_v1 RENAME TO run_open_batch`);
  }
}
