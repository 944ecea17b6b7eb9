import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Secrets (SPEC section 11): values encrypted with AES-256-GCM (src/secret/secret-crypto.ts),
 * never stored in clear. A namespace's secrets go with it. `run.secrets` names the secrets a run
 * receives; their values are decrypted only when the run is handed to a runner.
 */
export class Secrets1764400000000 implements MigrationInterface {
  name = 'Secrets1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE secret (
        namespace   text NOT NULL REFERENCES namespace (name) ON DELETE CASCADE,
        name        text NOT NULL,
        key_id      text NOT NULL,
        nonce       bytea NOT NULL,
        ciphertext  bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (namespace, name)
      )`);
    await q.query(`CREATE INDEX secret_key_id ON secret (key_id)`);
    // One known value per key id, written when the key first encrypts a secret: a process whose
    // key of that id differs (another host that generated its own) cannot start or store secrets.
    await q.query(`
      CREATE TABLE secret_key_canary (
        key_id      text PRIMARY KEY,
        nonce       bytea NOT NULL,
        ciphertext  bytea NOT NULL,
        created_at  timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`ALTER TABLE run ADD COLUMN secrets text[] NOT NULL DEFAULT '{}'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE run DROP COLUMN secrets`);
    await q.query(`DROP TABLE secret_key_canary`);
    await q.query(`DROP TABLE secret`);
  }
}
