import type { DataSource } from 'typeorm';

/**
 * The rows of an `UPDATE`/`DELETE ... RETURNING` run through TypeORM's `query()`: its postgres
 * driver answers those with `[rows, rowCount]` instead of the rows themselves.
 */
export function returned<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') {
    return result[0] as T[];
  }
  return result as T[];
}

interface PgPool {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

/**
 * Runs `text` as the named prepared statement `name` on a connection of TypeORM's pool, outside
 * any transaction. For the hot grouped statements (claim, complete): PostgreSQL plans an unnamed
 * statement again on every execution, and planning the one-statement claim costs about 1.1 ms
 * against 0.15 ms to run it; a named one is planned once per connection and, after five
 * executions, keeps a generic plan (0.03 ms). `name` must always go with the same `text`.
 * On the embedded database (`named` false) it runs unnamed: PGlite's socket answered a second
 * Parse of the same name with "prepared statement already exists" after a failed execution.
 */
export async function queryPrepared<T>(db: DataSource, named: boolean, name: string, text: string, values: unknown[]): Promise<T[]> {
  if (!named) return returned<T>(await db.query(text, values));
  const pool = (db.driver as unknown as { master: PgPool }).master;
  return (await pool.query({ name, text, values })).rows as T[];
}
