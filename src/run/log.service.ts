import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { EventEmitter } from 'node:events';
import { DataSource, EntityManager } from 'typeorm';
import { returned } from '../common/sql';
import { Conflict, LeaseLost, NotFound, OffsetGap } from '../common/errors';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { packChunk, unpackChunk } from './log-codec';
import { assemble, logWindow, LogPart, LogWindow, place } from './log-window';
import { isFinal, RunState } from './run-state';
import { RunRepository } from './run.repository';

export interface AppendResult {
  offset: number;
  cancel: boolean;
}

/**
 * Run logs: chunks at byte positions (SPEC section 2, `update`; section 13, head and tail).
 *
 * Two counters per run: `log_offset` counts the bytes the current attempt's runner sent (its
 * bookkeeping, checked by `logBytes` at complete), `log_stored` the length of the run's log
 * across attempts, every byte counted (the run's `logs`, the positions readers use). Past
 * LOG_MAX_BYTES per run the first half stays and only the last half of the rest is kept
 * (log-window.ts): older tail chunks are deleted as new ones arrive.
 */
@Injectable()
export class LogService implements BeforeApplicationShutdown {
  /** Emits the run id when bytes were appended in this process (followers wake at once). */
  readonly appended = new EventEmitter().setMaxListeners(0);
  /** Aborted when the app shuts down: followers end their streams so the server can close. */
  private readonly closing = new AbortController();

  private readonly window: LogWindow;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly runs: RunRepository,
    @Inject(PULSE_CONFIG) config: PulseConfig,
  ) {
    this.window = logWindow(config.logMaxBytes);
  }

  async append(runnerId: string, runId: string, messageId: string, offset: number, logs: string): Promise<AppendResult> {
    const bytes = Buffer.from(logs, 'utf8');
    const chunk = await packChunk(bytes);
    // The common case in one statement: the lease holder appends new bytes exactly at the end
    // of its log, under the cap. The UPDATE takes the row lock and re-checks the offset under it,
    // so concurrent appends to one run still line up. The chunk must fall wholly in the head or
    // wholly in the tail before the cap (nothing to split or drop). Anything else (a re-send, a
    // gap, the cap, a stale lease, a final run) takes the locked path below, which handles it precisely.
    const fast = returned<{ log_offset: string; cancel: boolean }>(
      await this.db.query(
        `WITH moved AS (
           UPDATE run SET log_offset = log_offset + $5, log_stored = log_stored + $5, acknowledged = true
           WHERE id = $1 AND runner_id = $2 AND message_id = $3 AND state = '${RunState.Running}'
             AND log_offset = $4 AND (log_stored + $5 <= $9 OR (log_stored >= $9 AND log_stored + $5 <= $7))
           RETURNING log_offset, log_stored - $5 AS pos, cancel_requested_at IS NOT NULL AS cancel
         ), stored AS (
           INSERT INTO run_log_chunk (run_id, pos, data, len, deflated)
           SELECT $1::uuid, pos, $6::bytea, $5, $8 FROM moved WHERE $5::bigint > 0
         )
         SELECT log_offset, cancel FROM moved`,
        [runId, runnerId, messageId, offset, bytes.length, chunk.data, this.window.cap, chunk.deflated, this.window.head],
      ),
    );
    if (fast.length > 0) {
      if (bytes.length > 0) this.appended.emit(runId);
      return { offset: Number(fast[0].log_offset), cancel: fast[0].cancel };
    }
    const result = await this.db.transaction(async (tx) => {
      const run = await this.runs.lockById(tx, runId);
      if (!run) throw new NotFound(`run ${runId} does not exist`);
      if (run.runner_id !== runnerId || run.message_id !== messageId) {
        throw new LeaseLost('messageId is stale or not yours: this lease is lost, stop the run');
      }
      if (isFinal(run.state)) throw new Conflict(`run is already ${run.state}: stop it`);
      if (run.state !== RunState.Running) throw new LeaseLost('run is not running under this lease: stop it');

      const current = Number(run.log_offset);
      if (offset > current) {
        throw new OffsetGap(`offset ${offset} is beyond the ${current} bytes stored: resend from expectedOffset`, current);
      }
      const fresh = bytes.subarray(Math.min(bytes.length, current - offset));
      let stored = Number(run.log_stored);
      if (fresh.length > 0) {
        await this.store(tx, runId, stored, fresh);
        stored += fresh.length;
      }
      const newOffset = current + fresh.length;
      if (fresh.length > 0 || !run.acknowledged) {
        await tx.query(`UPDATE run SET log_offset = $2, log_stored = $3, acknowledged = true WHERE id = $1`, [
          runId,
          newOffset,
          stored,
        ]);
      }
      return { offset: newOffset, cancel: run.cancel_requested_at !== null, grew: fresh.length > 0 };
    });
    if (result.grew) this.appended.emit(runId);
    return { offset: result.offset, cancel: result.cancel };
  }

  /** Stores `data` at position `pos`: its head part, its tail part, and drops the tail chunks now out of the window. */
  private async store(tx: EntityManager, runId: string, pos: number, data: Buffer): Promise<void> {
    const placement = place(this.window, pos, data.length);
    for (const part of placement.parts) {
      const bytes = data.subarray(part.start, part.end);
      const packed = await packChunk(bytes);
      await tx.query(`INSERT INTO run_log_chunk (run_id, pos, data, len, deflated) VALUES ($1, $2, $3, $4, $5)`, [
        runId,
        pos + part.start,
        packed.data,
        bytes.length,
        packed.deflated,
      ]);
    }
    if (placement.dropBefore !== null) {
      await tx.query(`DELETE FROM run_log_chunk WHERE run_id = $1 AND pos >= $2 AND pos + len <= $3`, [
        runId,
        this.window.head,
        placement.dropBefore,
      ]);
    }
  }

  get shutdownSignal(): AbortSignal {
    return this.closing.signal;
  }

  beforeApplicationShutdown(): void {
    this.closing.abort();
  }

  /** The log from position `from` on (with the gap's marker line if it crosses the gap). */
  async read(runId: string, from: number): Promise<Buffer> {
    return (await this.readFrom(runId, from)).data;
  }

  /**
   * The log from position `from` on, and the position it reaches (`next`): where a follower reads
   * on. Past the cap, `data` is longer or shorter than `next - from` (the marker, the gap).
   */
  async readFrom(runId: string, from: number): Promise<{ data: Buffer; next: number; parts: LogPart[] }> {
    const chunks: Array<{ pos: string; data: Buffer; deflated: boolean }> = await this.db.query(
      `SELECT pos, data, deflated FROM run_log_chunk WHERE run_id = $1 AND pos + len > $2 ORDER BY pos`,
      [runId, from],
    );
    return assemble(
      this.window,
      chunks.map((c) => ({ pos: Number(c.pos), data: unpackChunk(c.data, c.deflated) })),
      from,
    );
  }
}
