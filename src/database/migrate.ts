import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DatabaseTarget, dataSourceOptions } from './data-source-options';

/** Any fixed number: the advisory lock that serializes migrations across orchestrator processes. */
const MIGRATION_LOCK = 741_852_963;

/**
 * Runs pending migrations before the app serves anything. On a shared PostgreSQL, several
 * processes may start at once: a session advisory lock lets one migrate while the others wait,
 * then find nothing left to do. The embedded database belongs to one process and has one
 * connection, so it needs no lock.
 */
export async function runMigrations(target: DatabaseTarget, logger = new Logger('Migrations')): Promise<string[]> {
  const db = new DataSource({ ...dataSourceOptions(target), extra: { max: target.embedded ? 1 : 2 } });
  await db.initialize();
  try {
    const lock = target.embedded ? undefined : db.createQueryRunner();
    if (lock) {
      await lock.connect();
      await lock.query(`SELECT pg_advisory_lock($1)`, [MIGRATION_LOCK]);
    }
    try {
      const applied = await db.runMigrations({ transaction: 'each' });
      for (const m of applied) logger.log(`applied migration ${m.name}`);
      return applied.map((m) => m.name);
    } finally {
      if (lock) {
        await lock.query(`SELECT pg_advisory_unlock($1)`, [MIGRATION_LOCK]).catch(() => undefined);
        await lock.release();
      }
    }
  } finally {
    await db.destroy();
  }
}
