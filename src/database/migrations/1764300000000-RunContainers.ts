import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Runs in containers (SPEC section 9).
 *
 * - `run.image`: the image a run executes in; NULL runs on the shell executor (or a runner's
 *   default image).
 * - `runner.container`, `executors`, `default_image`: what the runner last reported (registration
 *   or heartbeat), shown by GET /api/runners/{id}.
 * - `runner.can_shell`, `can_container`: the same, reduced to what dispatch matches in SQL, so
 *   the claim stays one indexed statement: a run with an image needs `can_container` (a healthy
 *   engine and the `container` executor), one without needs `can_shell` (the `shell` executor,
 *   or a default image on a healthy engine). Existing runners keep running shell runs.
 */
export class RunContainers1764300000000 implements MigrationInterface {
  name = 'RunContainers1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE run ADD COLUMN image text`);
    await q.query(`
      ALTER TABLE runner
        ADD COLUMN container jsonb,
        ADD COLUMN executors jsonb,
        ADD COLUMN default_image text,
        ADD COLUMN can_shell boolean NOT NULL DEFAULT true,
        ADD COLUMN can_container boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE runner DROP COLUMN container, DROP COLUMN executors, DROP COLUMN default_image, DROP COLUMN can_shell, DROP COLUMN can_container`);
    await q.query(`ALTER TABLE run DROP COLUMN image`);
  }
}
