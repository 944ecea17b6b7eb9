import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { WorkSignal } from '../database/work-signal';
import { InstanceProtocol } from './instance-protocol';
import { instanceStatus } from './instance-status';

/** A runner that registered no resources has room for anything (it did not say it cannot). */
const UNLIMITED = 2147483647;
const DEADLOCK = '40P01';

/**
 * What a runner has given out, per resource: its placed instances that hold a claim (all but
 * TERMINATED and FAILED; a STOPPED one keeps only its disk) plus its running run. `w` is the runner.
 */
export const RUNNER_LOAD = `
  (SELECT coalesce(sum(CASE WHEN i.status = 'STOPPED' THEN 0 ELSE i.res_cpu END), 0) FROM instance i
    WHERE i.runner_id = w.id AND i.status NOT IN ('TERMINATED', 'FAILED'))
  + coalesce((SELECT sum(x.res_cpu) FROM run x WHERE x.runner_id = w.id AND x.state = 'running'), 0) AS used_cpu,
  (SELECT coalesce(sum(CASE WHEN i.status = 'STOPPED' THEN 0 ELSE i.res_memory END), 0) FROM instance i
    WHERE i.runner_id = w.id AND i.status NOT IN ('TERMINATED', 'FAILED'))
  + coalesce((SELECT sum(x.res_memory) FROM run x WHERE x.runner_id = w.id AND x.state = 'running'), 0) AS used_memory,
  (SELECT coalesce(sum(i.res_disk), 0) FROM instance i
    WHERE i.runner_id = w.id AND i.status NOT IN ('TERMINATED', 'FAILED'))
  + coalesce((SELECT sum(x.res_disk) FROM run x WHERE x.runner_id = w.id AND x.state = 'running'), 0) AS used_disk,
  EXISTS (SELECT 1 FROM instance i, unnest(i.ports) p
          WHERE i.runner_id = w.id AND i.status NOT IN ('TERMINATED', 'FAILED') AND p LIKE '%:%'
            AND split_part(p, ':', 1) = ANY($host_ports::text[])) AS port_taken`;

/** Runners an instance may go to before room is counted: alive, enabled, healthy engine, labels. */
const ELIGIBLE = `w.deregistered_at IS NULL AND w.enabled AND w.state <> 'dead' AND w.can_container AND w.labels @> $labels::text[]`;

interface Need {
  id: string;
  labels: string[];
  res_cpu: number;
  res_memory: number;
  res_disk: number;
  ports: string[];
}

interface Load {
  id: string;
  res_cpu: number | null;
  res_memory: number | null;
  res_disk: number | null;
  used_cpu: string;
  used_memory: string;
  used_disk: string;
  port_taken: boolean;
}

/** The host ports an instance asks for ("9000:80" → "9000"). */
export function hostPorts(ports: string[]): string[] {
  return ports.filter((p) => p.includes(':')).map((p) => p.split(':')[0]);
}

function sql(text: string): string {
  return text.replace(/\$labels/g, '$1').replace(/\$host_ports/g, '$2');
}

/** Free room after placing `need` on this runner, or null when it does not fit. */
export function roomAfter(load: Load, need: Need): number[] | null {
  if (load.port_taken) return null;
  const left = [
    (load.res_cpu ?? UNLIMITED) - Number(load.used_cpu) - need.res_cpu,
    (load.res_memory ?? UNLIMITED) - Number(load.used_memory) - need.res_memory,
    (load.res_disk ?? UNLIMITED) - Number(load.used_disk) - need.res_disk,
  ];
  return left.every((n) => n >= 0) ? left : null;
}

/**
 * Placement (SPEC section 10): puts SCHEDULING instances on runners that are alive, enabled,
 * have a healthy container engine, carry the labels and have room, fullest first (best fit).
 *
 * Never over-committed, with any number of orchestrator processes: the chosen runner's row is
 * locked (`FOR UPDATE`) and its room counted again under the lock by a new statement (which
 * sees every placement committed before the lock was granted). A runner that no longer fits
 * is unlocked (its savepoint rolled back) before the next one is tried, so one placement holds
 * at most one runner lock and two placements cannot deadlock on runners.
 */
@Injectable()
export class Placement {
  private readonly logger = new Logger(Placement.name);

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly signal: WorkSignal,
    private readonly protocol: InstanceProtocol,
  ) {}

  /** Tries to place these instances (those still SCHEDULING); wakes the runners they went to. */
  async place(ids: string[]): Promise<number> {
    let placed = 0;
    const runners: string[] = [];
    for (const id of ids) {
      for (let attempt = 0; ; attempt++) {
        try {
          const runner = await this.db.transaction((tx) => this.placeOne(tx, id));
          if (runner) {
            placed++;
            runners.push(runner);
          }
          break;
        } catch (err) {
          if ((err as { code?: string }).code !== DEADLOCK || attempt >= 3) throw err;
        }
      }
    }
    await this.wake(runners);
    return placed;
  }

  /** The SCHEDULING instances, oldest first (the sweep). */
  async placeWaiting(limit = 200): Promise<number> {
    const rows: Array<{ id: string }> = await this.db.query(
      `SELECT id FROM instance WHERE status = 'SCHEDULING' ORDER BY seq LIMIT $1`,
      [limit],
    );
    return rows.length ? this.place(rows.map((r) => r.id)) : 0;
  }

  /** Tells these runners their desired list changed: at once in this process, by NOTIFY in the others. */
  async wake(runnerIds: Array<string | null>): Promise<void> {
    this.protocol.forget(runnerIds);
    try {
      await this.signal.wakeRunners(runnerIds, 'instances', (q, p) => this.db.query(q, p));
    } catch (err) {
      // The runner's next heartbeat carries the list anyway.
      this.logger.warn(`cannot wake runners: ${(err as Error).message}`);
    }
  }

  private async placeOne(tx: EntityManager, id: string): Promise<string | null> {
    const rows: Need[] = await tx.query(
      `SELECT id, labels, res_cpu, res_memory, res_disk, ports FROM instance
       WHERE id = $1 AND status = 'SCHEDULING' AND desired = 'RUNNING' FOR UPDATE SKIP LOCKED`,
      [id],
    );
    const need = rows[0];
    if (!need) return null;
    const params = [need.labels, hostPorts(need.ports)];
    const candidates: Load[] = await tx.query(
      sql(`SELECT w.id, w.res_cpu, w.res_memory, w.res_disk, ${RUNNER_LOAD} FROM runner w WHERE ${ELIGIBLE}`),
      params,
    );
    const fitting = candidates
      .map((c) => ({ id: c.id, room: roomAfter(c, need) }))
      .filter((c): c is { id: string; room: number[] } => c.room !== null)
      .sort((a, b) => a.room[1] - b.room[1] || a.room[0] - b.room[0] || a.room[2] - b.room[2] || (a.id < b.id ? -1 : 1));
    for (const candidate of fitting) {
      await tx.query(`SAVEPOINT place`);
      const locked: Load[] = await tx.query(
        sql(`SELECT w.id, w.res_cpu, w.res_memory, w.res_disk FROM runner w WHERE w.id = $3 AND cardinality($host_ports::text[]) >= 0 AND ${ELIGIBLE} FOR UPDATE`),
        [...params, candidate.id],
      );
      // A new statement after the lock: it counts every placement committed before we got it.
      const load: Load[] = locked.length
        ? await tx.query(sql(`SELECT w.id, w.res_cpu, w.res_memory, w.res_disk, ${RUNNER_LOAD} FROM runner w WHERE w.id = $3 AND cardinality($labels::text[]) >= 0`), [
            ...params,
            candidate.id,
          ])
        : [];
      if (load.length && roomAfter(load[0], need)) {
        await tx.query(
          `UPDATE instance SET runner_id = $2::uuid, status = $3, reported = NULL, pending_reason = NULL, placed_at = now(),
                  published = '{}', ip = NULL, description = 'placed on runner ' || (SELECT name FROM runner WHERE id = $2::uuid),
                  updated_at = now()
           WHERE id = $1`,
          [id, candidate.id, instanceStatus({ desired: 'RUNNING', placed: true, reported: null })],
        );
        return candidate.id;
      }
      await tx.query(`ROLLBACK TO SAVEPOINT place`);
    }
    const reason = await this.pendingReason(tx, need, candidates.length);
    await tx.query(
      `UPDATE instance SET pending_reason = $2::text, description = $2::text, updated_at = now()
       WHERE id = $1 AND pending_reason IS DISTINCT FROM $2::text`,
      [id, reason],
    );
    return null;
  }

  private async pendingReason(tx: EntityManager, need: Need, eligible: number): Promise<string> {
    const size = `cpu ${need.res_cpu}, memory ${need.res_memory} MiB, disk ${need.res_disk} MiB`;
    if (eligible > 0) {
      const ports = hostPorts(need.ports);
      return `no room: none of ${eligible} matching runner(s) has ${size} free${ports.length ? ` and host port(s) ${ports.join(', ')} free` : ''}`;
    }
    const rows: Array<{ live: string; engine: string }> = await tx.query(
      `SELECT count(*) FILTER (WHERE w.enabled AND w.state <> 'dead') AS live,
              count(*) FILTER (WHERE w.enabled AND w.state <> 'dead' AND w.can_container) AS engine
       FROM runner w WHERE w.deregistered_at IS NULL`,
    );
    const live = Number(rows[0]?.live ?? 0);
    const engine = Number(rows[0]?.engine ?? 0);
    if (live === 0) return 'waiting for a runner: none is alive and enabled';
    if (engine === 0) return `waiting for a runner with a healthy container engine: none of ${live} alive runner(s) has one`;
    return `waiting for a runner with labels [${need.labels.join(', ')}]: none of ${engine} runner(s) with a container engine has them`;
  }

  get lostAfterSeconds(): number {
    return this.config.instanceLostAfter;
  }
}
