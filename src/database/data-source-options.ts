import type { DataSourceOptions } from 'typeorm';
import { Init1763900000000 } from './migrations/1763900000000-Init';
import { LogChunkDeflate1764000000000 } from './migrations/1764000000000-LogChunkDeflate';
import { Secrets1764400000000 } from './migrations/1764400000000-Secrets';

export interface DatabaseTarget {
  url: string;
  /** True for the embedded PGlite: one connection, no LISTEN/NOTIFY. */
  embedded: boolean;
  /** Pool size on a real PostgreSQL (DB_POOL_SIZE). */
  poolSize?: number;
}

/** The one place TypeORM is configured: the app and the TypeORM CLI (ormconfig.ts) share it. */
export function dataSourceOptions(target: DatabaseTarget): DataSourceOptions {
  return {
    type: 'postgres',
    url: target.url,
    synchronize: false,
    migrationsRun: false,
    migrations: [Init1763900000000, LogChunkDeflate1764000000000, Secrets1764400000000],
    migrationsTableName: 'pulse_migrations',
    migrationsTransactionMode: 'each',
    extra: target.embedded
      ? { max: 1, idleTimeoutMillis: 0 }
      : { max: target.poolSize ?? 20, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30000, query_timeout: 30000 },
  };
}
