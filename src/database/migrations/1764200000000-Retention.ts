import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Retention (SPEC section 13): `logs_pruned` marks a run whose log LOG_RETENTION_DAYS dropped.
 * Partial indexes on `finished_at` let the sweeps find the oldest final runs (with a log, or at
 * all) without reading the rest; dispatch's claims do not change `finished_at`, and waiting or
 * running runs are not in them. `batch_created_at` finds the oldest batches left without runs.
 */
export class Retention1764200000000 implements MigrationInterface {
  name = 'Retention1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE run ADD COLUMN logs_pruned boolean NOT NULL DEFAULT false`);
    await q.query(`CREATE INDEX run_final_finished_at ON run (finished_at) WHERE finished_at IS NOT NULL`);
    await q.query(`CREATE INDEX run_final_with_log ON run (finished_at) WHERE finished_at IS NOT NULL AND NOT logs_pruned`);
    await q.query(`CREATE INDEX batch_created_at ON batch (created_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX batch_created_at`);
    await q.query(`DROP INDEX run_final_with_log`);
    await q.query(`DROP INDEX run_final_finished_at`);
    await q.query(`ALTER TABLE run DROP COLUMN logs_pruned`);
  }
}
