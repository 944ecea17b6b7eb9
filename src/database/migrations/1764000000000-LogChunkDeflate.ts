import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Log chunks may be stored deflated (raw DEFLATE, src/run/log-codec.ts): `len` is the chunk's
 * length as the log has it, `deflated` says how `data` holds it. Chunks written before stay as
 * they are (`deflated` false, `len` their length).
 */
export class LogChunkDeflate1764000000000 implements MigrationInterface {
  name = 'LogChunkDeflate1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE run_log_chunk ADD COLUMN len integer, ADD COLUMN deflated boolean NOT NULL DEFAULT false`);
    await q.query(`UPDATE run_log_chunk SET len = length(data)`);
    await q.query(`ALTER TABLE run_log_chunk ALTER COLUMN len SET NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    const [{ n }] = (await q.query(`SELECT count(*)::int AS n FROM run_log_chunk WHERE deflated`)) as Array<{ n: number }>;
    if (n > 0) throw new Error(`${n} log chunks are deflated; SQL cannot inflate them, so this migration cannot be undone`);
    await q.query(`ALTER TABLE run_log_chunk DROP COLUMN len, DROP COLUMN deflated`);
  }
}
