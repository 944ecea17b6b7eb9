import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * SPEC section 12: API tokens, registration tokens, runner token rotation and the audit log.
 *
 * - Tokens are stored only as SHA-256 hashes (`token_hash`), never as values.
 * - `runner.namespaces` (NULL: every namespace) comes from a namespace-bound registration token;
 *   the dispatcher's candidate queries read it.
 * - Runner token rotation: the current token (`token_hash`, `token_expires_at`), the previous one
 *   (valid until `prev_token_until`, set when the new one is first used), and the latest offer
 *   (`offer_hash`, `offer_expires_at`). `rotate_requested` is the admin's "offer one now".
 * - `audit_log` is append-only: a trigger refuses UPDATE and DELETE.
 */
export class Tokens1764500000000 implements MigrationInterface {
  name = 'Tokens1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_token (
        id            uuid PRIMARY KEY,
        name          text NOT NULL,
        token_hash    bytea NOT NULL UNIQUE,
        scopes        text[] NOT NULL,
        namespaces    text[],
        expires_at    timestamptz NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        last_used_at  timestamptz,
        revoked_at    timestamptz,
        seq           bigserial UNIQUE
      )`);
    await q.query(`
      CREATE TABLE registration_token (
        id          uuid PRIMARY KEY,
        name        text NOT NULL,
        token_hash  bytea NOT NULL UNIQUE,
        labels      text[] NOT NULL DEFAULT '{}',
        namespaces  text[],
        expires_at  timestamptz,
        max_uses    integer,
        uses        integer NOT NULL DEFAULT 0,
        created_at  timestamptz NOT NULL DEFAULT now(),
        revoked_at  timestamptz,
        seq         bigserial UNIQUE
      )`);
    await q.query(`
      ALTER TABLE runner
        ADD COLUMN namespaces             text[],
        ADD COLUMN registration_token_id  uuid REFERENCES registration_token (id),
        ADD COLUMN token_expires_at       timestamptz,
        ADD COLUMN prev_token_hash        bytea UNIQUE,
        ADD COLUMN prev_token_until       timestamptz,
        ADD COLUMN offer_hash             bytea UNIQUE,
        ADD COLUMN offer_expires_at       timestamptz,
        ADD COLUMN rotate_requested       boolean NOT NULL DEFAULT false`);
    await q.query(`
      CREATE TABLE audit_log (
        id            bigserial PRIMARY KEY,
        at            timestamptz NOT NULL DEFAULT now(),
        actor_type    text NOT NULL CHECK (actor_type IN ('token', 'bootstrap', 'runner', 'system')),
        actor_id      text,
        actor_name    text,
        action        text NOT NULL,
        subject_type  text,
        subject_id    text,
        ip            text,
        data          jsonb NOT NULL DEFAULT '{}'
      )`);
    await q.query(`CREATE INDEX audit_log_action ON audit_log (action, id)`);
    await q.query(`CREATE INDEX audit_log_denied ON audit_log (ip, at) WHERE action = 'auth.denied'`);
    await q.query(`
      CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'audit_log is append-only';
      END $$`);
    await q.query(`
      CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE audit_log`);
    await q.query(`DROP FUNCTION audit_log_append_only()`);
    await q.query(`
      ALTER TABLE runner
        DROP COLUMN namespaces, DROP COLUMN registration_token_id, DROP COLUMN token_expires_at,
        DROP COLUMN prev_token_hash, DROP COLUMN prev_token_until, DROP COLUMN offer_hash,
        DROP COLUMN offer_expires_at, DROP COLUMN rotate_requested`);
    await q.query(`DROP TABLE registration_token`);
    await q.query(`DROP TABLE api_token`);
  }
}
