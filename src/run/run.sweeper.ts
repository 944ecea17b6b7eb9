import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { returned } from '../common/sql';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { WorkSignal } from '../database/work-signal';

export type SweepReason = 'timeout' | 'cancel_grace' | 'runner_lost';

/**
 * Deadlines of runs: a run still running `timeout` seconds after it started becomes `timeout`;
 * a cancel the runner did not confirm within CANCEL_GRACE becomes `canceled`. Each sweep is one
 * UPDATE whose WHERE re-checks the state under the row lock, so any number of orchestrator
 * processes can sweep at once and each run changes exactly once.
 */
@Injectable()
export class RunSweeper {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly signal: WorkSignal,
  ) {}

  async sweep(): Promise<Record<SweepReason, number>> {
    const timedOut = returned<{ runner_id: string | null }>(
      await this.db.query(
        `UPDATE run SET state = 'timeout', finished_at = now(),
                reason = 'deadline exceeded: still running ' || timeout || ' s after it started'
         WHERE state = 'running' AND started_at + timeout * interval '1 second' < now()
         RETURNING runner_id`,
      ),
    );
    const canceled = returned<{ runner_id: string | null }>(
      await this.db.query(
        `UPDATE run SET state = 'canceled', finished_at = now(),
                reason = 'canceled by a user; the runner did not confirm within CANCEL_GRACE'
         WHERE state = 'running' AND cancel_requested_at < now() - $1 * interval '1 second'
         RETURNING runner_id`,
        [this.config.cancelGrace],
      ),
    );
    // Their runners are told to stop at once: a busy long poll answers now (SPEC section 13).
    await this.signal.wakeRunners(
      [...timedOut, ...canceled].map((r) => r.runner_id),
      'timeout',
      (sql, params) => this.db.query(sql, params),
    );
    return { timeout: timedOut.length, cancel_grace: canceled.length, runner_lost: 0 };
  }
}

/** Runs a sweep function every `intervalSeconds`, never two at once in one process. */
@Injectable()
export class SweepTimer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Sweeper');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly jobs: Array<() => Promise<void>> = [];

  constructor(@Inject(PULSE_CONFIG) private readonly config: PulseConfig) {}

  register(job: () => Promise<void>): void {
    this.jobs.push(job);
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.tick().finally(() => (this.running = undefined));
    }, this.config.sweepInterval * 1000);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    for (const job of this.jobs) {
      try {
        await job();
      } catch (err) {
        this.logger.warn(`sweep failed, will retry: ${(err as Error).message}`);
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
