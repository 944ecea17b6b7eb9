import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { isDeepStrictEqual } from 'node:util';
import { DataSource } from 'typeorm';
import { Coalescer } from '../common/coalescer';
import { queryPrepared } from '../common/sql';
import type { DatabaseTarget } from '../database/data-source-options';
import { DATABASE_TARGET } from '../database/database.tokens';
import { Conflict, LeaseLost, NotFound, OffsetGap } from '../common/errors';
import { isFinal, ResultState, RunState } from './run-state';
import { RunRepository } from './run.repository';

export interface RunResult {
  id: string;
  status: ResultState;
  exitCode?: number;
  outcome?: string;
  data?: Record<string, unknown>;
  logBytes?: number;
}

/**
 * The result upload (`complete`, SPEC section 2): fenced by the lease's messageId, idempotent
 * for the same messageId and result, and refused while the log is shorter than the runner says.
 */
/** The result as stored in `run.result`. */
function storedResult(result: RunResult): Record<string, unknown> {
  return {
    status: result.status,
    ...(result.exitCode !== undefined && { exitCode: result.exitCode }),
    ...(result.outcome !== undefined && { outcome: result.outcome }),
    ...(result.data !== undefined && { data: result.data }),
    ...(result.logBytes !== undefined && { logBytes: result.logBytes }),
  };
}

interface FastComplete {
  runnerId: string;
  batchId: string;
  messageId: string;
  result: RunResult;
  /** storedResult(result) as JSON. */
  stored: string;
}

@Injectable()
export class ResultService {
  private readonly fast = new Coalescer<FastComplete, boolean>((items) => this.completeMany(items));

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(DATABASE_TARGET) private readonly target: DatabaseTarget,
    private readonly runs: RunRepository,
  ) {}

  /**
   * One conditional UPDATE for every complete of the batch; true for those it finished, false for
   * those the locked path must decide. A run named twice in one batch is left to the locked path
   * the second time (it then finds the run final and says whether the result is the same). If the
   * statement fails (a deadlock with a sweep, say), every complete of the batch takes the locked
   * path on its own.
   */
  private async completeMany(items: FastComplete[]): Promise<boolean[]> {
    const seen = new Set<string>();
    const take = items.map((c) => {
      if (seen.has(c.result.id)) return false;
      seen.add(c.result.id);
      return true;
    });
    const batch = items.filter((_, i) => take[i]);
    const done = await this.finishBatch(batch).catch(() => []);
    const finished = new Set(done.map((d) => d.id));
    return items.map((c, i) => take[i] && finished.has(c.result.id));
  }

  private async finishBatch(batch: FastComplete[]): Promise<Array<{ id: string }>> {
    return queryPrepared<{ id: string }>(
      this.db,
      !this.target.embedded,
      'pulse_complete_many',
      `UPDATE run r SET state = c.state, exit_code = c.exit_code, result = c.result, finished_at = now(),
                acknowledged = true,
                reason = CASE WHEN c.state = '${RunState.Canceled}' AND r.cancel_requested_at IS NOT NULL
                              THEN 'canceled by a user' ELSE NULL END
         FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::int[], $7::jsonb[], $8::bigint[])
              AS c(id, batch_id, runner_id, message_id, state, exit_code, result, log_bytes)
         WHERE r.id = c.id AND r.batch_id = c.batch_id AND r.runner_id = c.runner_id AND r.message_id = c.message_id
           AND r.state = '${RunState.Running}' AND (c.log_bytes IS NULL OR r.log_offset >= c.log_bytes)
         RETURNING r.id`,
      [
        batch.map((c) => c.result.id),
        batch.map((c) => c.batchId),
        batch.map((c) => c.runnerId),
        batch.map((c) => c.messageId),
        batch.map((c) => c.result.status),
        batch.map((c) => c.result.exitCode ?? null),
        batch.map((c) => c.stored),
        batch.map((c) => c.result.logBytes ?? null),
      ],
    );
  }

  async complete(runnerId: string, batchId: string, messageId: string, result: RunResult): Promise<void> {
    // The common case in one statement, shared with the other completes arriving at the same
    // moment: the lease holder completes its running run with the whole log stored. Anything else
    // (stale lease, final run, short log, wrong batch) takes the locked path below, which says
    // precisely why.
    const stored = JSON.stringify(storedResult(result));
    if (await this.fast.submit({ runnerId, batchId, messageId, result, stored })) return;
    await this.db.transaction(async (tx) => {
      const run = await this.runs.lockById(tx, result.id);
      if (!run) throw new NotFound(`run ${result.id} does not exist`);
      if (run.batch_id !== batchId) throw new Conflict(`run ${run.id} does not belong to batch ${batchId}`);
      if (run.runner_id !== runnerId || run.message_id !== messageId) {
        throw new LeaseLost('messageId is stale or not yours: this result is not accepted');
      }
      if (isFinal(run.state)) {
        // The same result again (a retried upload whose answer was lost) changes nothing. A run
        // made final by the server (timeout, cancel grace, runner lost) has no result of the
        // runner's: whatever the runner says later is refused.
        if (run.result !== null && isDeepStrictEqual(run.result, JSON.parse(stored))) return;
        throw new Conflict(`run is already ${run.state}; the result "${result.status}" is not accepted`);
      }
      const held = Number(run.log_offset);
      if (result.logBytes !== undefined && result.logBytes > held) {
        throw new OffsetGap(
          `the log holds ${held} of the ${result.logBytes} bytes you produced: send the rest from expectedOffset, then complete again`,
          held,
        );
      }
      await tx.query(
        `UPDATE run SET state = $2, exit_code = $3, result = $4, finished_at = now(), acknowledged = true,
                reason = CASE WHEN $2 = '${RunState.Canceled}' AND cancel_requested_at IS NOT NULL
                              THEN 'canceled by a user' ELSE NULL END
         WHERE id = $1`,
        [run.id, result.status, result.exitCode ?? null, stored],
      );
    });
  }
}
