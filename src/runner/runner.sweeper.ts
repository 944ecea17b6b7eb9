import { Inject, Injectable, Logger } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { isDatabaseUnavailable } from '../common/error.filter';
import { returned } from '../common/sql';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { WorkSignal } from '../database/work-signal';
import { DispatchService } from '../run/dispatch.service';

/**
 * Dead runners (SPEC section 4): a runner silent for RUNNER_DEAD_AFTER is `dead`, and the runs
 * of dead or deregistered runners go back to the queue (or fail when no attempts remain).
 * Each release locks the runner row and re-checks it, so a heartbeat that revives the runner
 * and a sweep in another orchestrator process cannot both act on the same run.
 *
 * Silence counts only while this process could have heard the runner: for RUNNER_DEAD_AFTER
 * after it starts listening, and after its database comes back, no runner is declared dead.
 * Otherwise an orchestrator restart or a database outage longer than RUNNER_DEAD_AFTER would
 * declare every runner dead on the first sweep, before any of them could heartbeat again, and
 * requeue every run.
 */
@Injectable()
export class RunnerSweeper {
  private readonly logger = new Logger('RunnerSweeper');
  /** Since when this process has been listening with its database reachable (ms since the epoch). */
  private listeningSince = Date.now();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly dispatch: DispatchService,
    private readonly signal: WorkSignal,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  async sweep(): Promise<{ dead: number; released: number }> {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as { listening?: boolean } | undefined;
    if (!server?.listening) this.listeningSince = Date.now();
    try {
      return await this.sweepOnce();
    } catch (err) {
      // The database is unreachable, and so were the heartbeats: silence counts from its return.
      if (isDatabaseUnavailable(err)) this.listeningSince = Date.now();
      throw err;
    }
  }

  private async sweepOnce(): Promise<{ dead: number; released: number }> {
    const dead = await this.markDead();
    const released = await this.releaseLost();
    return { dead, released };
  }

  /** Marks the runners silent for RUNNER_DEAD_AFTER as dead; none before this process could hear them that long. */
  private async markDead(): Promise<number> {
    if (Date.now() - this.listeningSince < this.config.runnerDeadAfter * 1000) return 0;
    const dead = returned<{ id: string; name: string }>(
      await this.db.query(
        `UPDATE runner SET state = 'dead'
         WHERE state <> 'dead' AND deregistered_at IS NULL
           AND COALESCE(last_heartbeat_at, registered_at) < now() - $1 * interval '1 second'
         RETURNING id, name`,
        [this.config.runnerDeadAfter],
      ),
    );
    for (const runner of dead) {
      this.logger.warn(`runner ${runner.name} (${runner.id}) is dead: no heartbeat for ${this.config.runnerDeadAfter} s`);
    }
    return dead.length;
  }

  /** Gives back the runs of dead or deregistered runners; returns how many were released. */
  private async releaseLost(): Promise<number> {
    const holders: Array<{ runner_id: string }> = await this.db.query(
      `SELECT DISTINCT r.runner_id FROM run r JOIN runner u ON u.id = r.runner_id
       WHERE r.state = 'running' AND (u.state = 'dead' OR u.deregistered_at IS NOT NULL)`,
    );
    let released = 0;
    let requeued = 0;
    for (const { runner_id } of holders) {
      const runs = await this.db.transaction(async (tx) => {
        const still: unknown[] = await tx.query(
          `SELECT 1 FROM runner WHERE id = $1 AND (state = 'dead' OR deregistered_at IS NOT NULL) FOR UPDATE`,
          [runner_id],
        );
        if (!still.length) return [];
        return this.dispatch.releaseAll(tx, runner_id, 'runner lost');
      });
      released += runs.length;
      requeued += runs.filter((r) => r.state === 'waiting').length;
    }
    if (requeued > 0) await this.signal.announce(requeued, (sql, params) => this.db.query(sql, params));
    return released;
  }
}
