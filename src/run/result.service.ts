import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { isDeepStrictEqual } from 'node:util';
import { DataSource } from 'typeorm';
import { returned } from '../common/sql';
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

@Injectable()
export class ResultService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly runs: RunRepository,
  ) {}

  async complete(runnerId: string, batchId: string, messageId: string, result: RunResult): Promise<void> {
    // The common case in one statement: the lease holder completes its running run with the
    // whole log stored. Anything else (stale lease, final run, short log, wrong batch) takes the
    // locked path below, which says precisely why.
    const done = returned<{ id: string }>(
      await this.db.query(
        `UPDATE run SET state = $5, exit_code = $6, result = $7, finished_at = now(), acknowledged = true,
                reason = CASE WHEN $5 = '${RunState.Canceled}' AND cancel_requested_at IS NOT NULL
                              THEN 'canceled by a user' ELSE NULL END
         WHERE id = $1 AND batch_id = $2 AND runner_id = $3 AND message_id = $4 AND state = '${RunState.Running}'
           AND ($8::bigint IS NULL OR log_offset >= $8)
         RETURNING id`,
        [
          result.id,
          batchId,
          runnerId,
          messageId,
          result.status,
          result.exitCode ?? null,
          JSON.stringify(storedResult(result)),
          result.logBytes ?? null,
        ],
      ),
    );
    if (done.length > 0) return;
    await this.db.transaction(async (tx) => {
      const run = await this.runs.lockById(tx, result.id);
      if (!run) throw new NotFound(`run ${result.id} does not exist`);
      if (run.batch_id !== batchId) throw new Conflict(`run ${run.id} does not belong to batch ${batchId}`);
      if (run.runner_id !== runnerId || run.message_id !== messageId) {
        throw new LeaseLost('messageId is stale or not yours: this result is not accepted');
      }
      const stored = storedResult(result);
      if (isFinal(run.state)) {
        // The same result again (a retried upload whose answer was lost) changes nothing. A run
        // made final by the server (timeout, cancel grace, runner lost) has no result of the
        // runner's: whatever the runner says later is refused.
        if (run.result !== null && isDeepStrictEqual(run.result, JSON.parse(JSON.stringify(stored)))) return;
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
        [run.id, result.status, result.exitCode ?? null, JSON.stringify(stored)],
      );
    });
  }
}
