import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { type Desired, instanceStatus } from './instance-status';
import { Placement } from './placement';

/**
 * The instance sweep (SPEC section 10), run by the sweep timer in every process:
 * - instances of a dead runner say so in `description`;
 * - past INSTANCE_LOST_AFTER since its last heartbeat, the ones meant to run are placed again
 *   (SCHEDULING), STOPPED ones stay STOPPED without a runner, DESTROYING ones are TERMINATED;
 *   the runner, if it comes back, no longer finds them in its list and removes its copies;
 * - SCHEDULING instances are offered to the runners again.
 */
@Injectable()
export class InstanceSweeper {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly placement: Placement,
  ) {}

  async sweep(): Promise<{ lost: number; placed: number }> {
    await this.db.query(
      `UPDATE instance i SET description = 'runner ' || w.name || ' is dead: no heartbeat since ' || coalesce(pulse_iso(w.last_heartbeat_at), 'it registered'),
              updated_at = now()
       FROM runner w
       WHERE i.runner_id = w.id AND i.status <> 'TERMINATED' AND (w.state = 'dead' OR w.deregistered_at IS NOT NULL)
         AND i.description NOT LIKE 'runner % is dead: %'`,
    );
    const lost = await this.db.transaction(async (tx) => {
      const rows: Array<{ id: string; desired: Desired; name: string }> = await tx.query(
        `SELECT i.id, i.desired, w.name FROM instance i JOIN runner w ON w.id = i.runner_id
         WHERE i.status <> 'TERMINATED'
           AND (w.deregistered_at IS NOT NULL OR (w.state = 'dead' AND (w.last_heartbeat_at IS NULL
                OR w.last_heartbeat_at < now() - make_interval(secs => $1))))
         FOR UPDATE OF i SKIP LOCKED`,
        [this.config.instanceLostAfter],
      );
      for (const row of rows) {
        const status = instanceStatus({ desired: row.desired, placed: false, reported: null });
        const why =
          status === 'SCHEDULING' ? `runner ${row.name} was lost: placing it again` : status === 'TERMINATED' ? `runner ${row.name} was lost: destroyed` : `runner ${row.name} was lost`;
        await tx.query(
          `UPDATE instance SET runner_id = NULL, reported = NULL, status = $2, description = $3, ip = NULL, published = '{}',
                  generation = generation + 1, updated_at = now()
           WHERE id = $1`,
          [row.id, status, why],
        );
      }
      return rows.length;
    });
    const placed = await this.placement.placeWaiting();
    return { lost, placed };
  }
}
