import { Inject, Injectable } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { returned } from '../common/sql';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { MetricsService } from '../metrics/metrics.service';

/** Runs (or batches) per statement: each step is short, and holds few row locks. */
const STEP = 50;
/**
 * Longest one pass spends on retention while the process is not handing out runs; the rest waits
 * for the next pass. While it is (runs were handed out since the last pass), a pass takes one step
 * of each kind only: dispatch keeps the database, and a backlog still shrinks by STEP a pass.
 */
const BUDGET_MS = 50;
/** Retention need not look every sweep: a backlog is worked through in steps meanwhile. */
const EVERY_MS = 2000;

const FINAL = `state IN ('finished', 'failed', 'timeout', 'canceled')`;

export interface RetentionCounts {
  logs: number;
  runs: number;
  batches: number;
}

/**
 * Retention (SPEC section 13), in small steps inside the sweeps:
 *
 * - LOG_RETENTION_DAYS (0 = forever): the log chunks of runs final for longer are deleted and the
 *   run keeps `logs_pruned` (its log then answers 410).
 * - RUN_RETENTION_DAYS (0 = forever): runs final for longer are deleted (their chunks go with
 *   them), then batches left without runs that are at least that old.
 *
 * Each step is one statement over at most STEP rows, picked oldest first with `FOR UPDATE SKIP
 * LOCKED`: any number of orchestrator processes can sweep at once, each taking different rows,
 * and none waits for another. Only final runs are touched, which dispatch never locks. A pass
 * works for up to BUDGET_MS, or one step of each kind while this process is handing out runs.
 */
@Injectable()
export class RetentionSweeper {
  private lastAt = 0;
  private dispatchedAt = 0;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly metrics: MetricsService,
  ) {}

  get enabled(): boolean {
    return this.config.logRetentionDays > 0 || this.config.runRetentionDays > 0;
  }

  async sweep(now = Date.now()): Promise<RetentionCounts> {
    const counts: RetentionCounts = { logs: 0, runs: 0, batches: 0 };
    if (!this.enabled || now - this.lastAt < Math.min(EVERY_MS, this.config.sweepInterval * 1000 * 5)) return counts;
    this.lastAt = now;
    const dispatched = this.metrics.value('pulse_dispatches_total');
    const dispatching = dispatched !== this.dispatchedAt;
    this.dispatchedAt = dispatched;
    const deadline = dispatching ? now : now + BUDGET_MS;
    const steps = async (step: () => Promise<number>): Promise<number> => {
      let total = 0;
      for (;;) {
        const n = await step();
        total += n;
        if (n < STEP || Date.now() >= deadline) return total;
      }
    };
    const started = performance.now();
    try {
      if (this.config.runRetentionDays > 0) {
        counts.runs = await steps(() => this.deleteRuns(this.config.runRetentionDays));
        counts.batches = await steps(() => this.deleteEmptyBatches(this.config.runRetentionDays));
      }
      if (this.config.logRetentionDays > 0) counts.logs = await steps(() => this.pruneLogs(this.config.logRetentionDays));
    } finally {
      this.metrics.inc('pulse_retention_seconds_total', (performance.now() - started) / 1000);
    }
    return counts;
  }

  /** Drops the logs of up to STEP runs final for longer than `days`; returns how many. */
  async pruneLogs(days: number): Promise<number> {
    const rows = returned<{ id: string }>(
      await this.db.query(
        `WITH picked AS (
           SELECT id FROM run
           WHERE finished_at IS NOT NULL AND NOT logs_pruned AND finished_at < now() - $1 * interval '1 day' AND ${FINAL}
           ORDER BY finished_at LIMIT $2
           FOR UPDATE SKIP LOCKED
         ), chunks AS (
           DELETE FROM run_log_chunk c USING picked p WHERE c.run_id = p.id
         )
         UPDATE run r SET logs_pruned = true FROM picked p WHERE r.id = p.id RETURNING r.id`,
        [days, STEP],
      ),
    );
    return rows.length;
  }

  /** Deletes up to STEP runs final for longer than `days` (their log chunks cascade); returns how many. */
  async deleteRuns(days: number): Promise<number> {
    const rows = returned<{ id: string }>(
      await this.db.query(
        `DELETE FROM run WHERE id IN (
           SELECT id FROM run
           WHERE finished_at IS NOT NULL AND finished_at < now() - $1 * interval '1 day' AND ${FINAL}
           ORDER BY finished_at LIMIT $2
           FOR UPDATE SKIP LOCKED
         ) RETURNING id`,
        [days, STEP],
      ),
    );
    return rows.length;
  }

  /** Deletes up to STEP batches older than `days` whose runs are all gone; returns how many. */
  async deleteEmptyBatches(days: number): Promise<number> {
    const rows = returned<{ id: string }>(
      await this.db.query(
        `DELETE FROM batch WHERE id IN (
           SELECT b.id FROM batch b
           WHERE b.created_at < now() - $1 * interval '1 day'
             AND NOT EXISTS (SELECT 1 FROM run r WHERE r.batch_id = b.id)
           ORDER BY b.created_at LIMIT $2
           FOR UPDATE SKIP LOCKED
         ) RETURNING id`,
        [days, STEP],
      ),
    );
    return rows.length;
  }
}
