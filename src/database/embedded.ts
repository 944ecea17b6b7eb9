import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** A postgres:// URL that TypeORM's own `postgres` driver connects to. */
  url: string;
  close(): Promise<void>;
}

/**
 * Starts PGlite inside this process and serves it on a loopback socket, so the app talks to it
 * through the same `pg` driver, SQL and migrations as a real PostgreSQL.
 *
 * PGlite is a single connection: the socket server queues queries, and the app must use a pool
 * of exactly one connection (measured: a larger pool drops the connection, and transactions from
 * two pooled clients would interleave). The server itself accepts a few sockets so that a client
 * that reconnects (the migration step, then the app) is never refused while the previous socket
 * is still being torn down. `dataDir` undefined keeps everything in memory (tests).
 */
export async function startEmbeddedPostgres(dataDir: string | undefined): Promise<EmbeddedPostgres> {
  let location = 'memory://';
  if (dataDir) {
    const pgdata = join(dataDir, 'pgdata');
    mkdirSync(pgdata, { recursive: true });
    location = pgdata;
  }
  const db = await PGlite.create(location);
  const server = new PGLiteSocketServer({ db, port: 0, host: '127.0.0.1', maxConnections: 4 });
  await server.start();
  const conn = server.getServerConn();
  return {
    url: `postgresql://postgres@${conn}/postgres?sslmode=disable`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
