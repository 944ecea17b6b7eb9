/**
 * `npm run secrets:rewrap`: re-encrypts every stored secret with the first key of the ring
 * (SECRETS_KEYS, else DATA_DIR/secrets.key), each with a fresh nonce, in one transaction. Run it
 * with the same environment as the orchestrator, after putting the new key first and keeping
 * the old ones; then the old keys can be dropped (docs/operations.md, "Rotating the secrets key").
 *
 * On the embedded database, stop the orchestrator first: PGlite belongs to one process.
 * Never prints a value or a key.
 */
import 'reflect-metadata';
import { Client } from 'pg';
import { ConfigError, loadConfig } from '../config/config';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../database/embedded';
import { runMigrations } from '../database/migrate';
import { KeyRingError } from './secret-crypto';
import { rewrapAll } from './secret-store';

async function main(): Promise<number> {
  let config;
  try {
    ({ config } = loadConfig(process.env));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`pulse secrets:rewrap: configuration error: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  let embedded: EmbeddedPostgres | undefined;
  let url = config.databaseUrl;
  if (!url) {
    embedded = await startEmbeddedPostgres(config.dataDir);
    url = embedded.url;
  }
  const client = new Client({ connectionString: url });
  try {
    await runMigrations({ url, embedded: embedded !== undefined });
    await client.connect();
    await client.query('BEGIN');
    const query = async (sql: string, params?: unknown[]): Promise<unknown> => (await client.query(sql, params)).rows;
    const n = await rewrapAll(query, config.secretsKeys);
    await client.query('COMMIT');
    process.stdout.write(`pulse secrets:rewrap: re-encrypted ${n} secret(s) with key "${config.secretsKeys[0].id}"\n`);
    return 0;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (err instanceof KeyRingError) {
      process.stderr.write(`pulse secrets:rewrap: ${err.message}; nothing was changed\n`);
      return 1;
    }
    throw err;
  } finally {
    await client.end().catch(() => undefined);
    await embedded?.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`pulse secrets:rewrap: failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
