import type { DataSourceOptions } from 'typeorm';
import { Init1763900000000 } from './migrations/1763900000000-Init';
import { LogChunkDeflate1764000000000 } from './migrations/1764000000000-LogChunkDeflate';
import { Events1764100000000 } from './migrations/1764100000000-Events';
import { Retention1764200000000 } from './migrations/1764200000000-Retention';
import { RunContainers1764300000000 } from './migrations/1764300000000-RunContainers';
import { Secrets1764400000000 } from './migrations/1764400000000-Secrets';
import { Tokens1764500000000 } from './migrations/1764500000000-Tokens';
import { PendingReasonInSql1764600000000 } from './migrations/1764600000000-PendingReasonInSql';
import { RunnerEventPlpgsql1764650000000 } from './migrations/1764650000000-RunnerEventPlpgsql';
import { Instances1764700000000 } from './migrations/1764700000000-Instances';
import { StatementEventTriggers1764800000000 } from './migrations/1764800000000-StatementEventTriggers';
import { OpenBatchIndexOutOfTheQueue1764900000000 } from './migrations/1764900000000-OpenBatchIndexOutOfTheQueue';

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
    migrations: [
      Init1763900000000,
      LogChunkDeflate1764000000000,
      Events1764100000000,
      Retention1764200000000,
      RunContainers1764300000000,
      Secrets1764400000000,
      Tokens1764500000000,
      PendingReasonInSql1764600000000,
      RunnerEventPlpgsql1764650000000,
      Instances1764700000000,
      StatementEventTriggers1764800000000,
      OpenBatchIndexOutOfTheQueue1764900000000,
    ],
    migrationsTableName: 'pulse_migrations',
    migrationsTransactionMode: 'each',
    extra: target.embedded
      ? { max: 1, idleTimeoutMillis: 0 }
      : {
          max: target.poolSize ?? 20,
          connectionTimeoutMillis: 5000,
          idleTimeoutMillis: 30000,
          query_timeout: 30000,
          // Every statement of ours is a short OLTP one. The planner's estimates for the claim (a
          // namespace table it has no statistics for, times a lateral scan) pass jit_above_cost,
          // and compiling it took 180 ms a statement in the dispatch bench for 0.5 ms of work.
          options: '-c jit=off',
        },
  };
}
