import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { WorkSignal } from '../database/work-signal';
import { type Desired, instanceStatus, type InstanceStatus, type Reported } from './instance-status';

/** One instance a runner holds, as its heartbeat reports it (SPEC section 10). */
export interface InstanceReport {
  id: string;
  status: Reported;
  description?: string;
  ip?: string;
  ports?: string[];
  restarts?: number;
  /** The generation of the desired entry it runs; an older one's report is ignored. */
  generation?: number;
}

/** One entry of the whole desired list a heartbeat response carries. */
export interface DesiredInstance {
  id: string;
  name: string;
  uri: string;
  command?: string[];
  environment: string[];
  resources: { cpu: number; memory: number; disk: number };
  ports: string[];
  state: 'RUNNING' | 'STOPPED';
  /** Grows when the container must be made again (a retry after FAILED, a changed image…). */
  generation: number;
}

interface HeldRow {
  id: string;
  desired: Desired;
  reported: Reported | null;
  status: InstanceStatus;
  generation: number;
  ip: string | null;
  published: string[];
  restarts: number;
  description: string;
}

interface DesiredRow {
  id: string;
  name: string;
  uri: string;
  command: string[] | null;
  environment: string[];
  res_cpu: number;
  res_memory: number;
  res_disk: number;
  ports: string[];
  desired: Desired;
  generation: number;
}

/** What the runner reports for one of its instances does not (yet) follow the desired list. */
function disagrees(row: { desired: Desired; generation: number }, r: InstanceReport | undefined): boolean {
  if (row.desired === 'DESTROYED') return r !== undefined && r.status !== 'STOPPING';
  if (!r) return true;
  if (r.generation !== undefined && r.generation !== row.generation) return true;
  if (row.desired === 'STOPPED') return r.status === 'RUNNING' || r.status === 'STARTING' || r.status === 'CRASHED';
  return r.status === 'STOPPED' || r.status === 'STOPPING';
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The instance half of the heartbeat: reads a runner's report against the desired state, and
 * gives it its whole desired list. Idle runners without instances cost nothing here: a runner
 * found holding none is remembered (per process) until a wake-up for it (WorkSignal.wakeRunners
 * with reason `instances`, sent by every change of its list, from any process) forgets it.
 */
@Injectable()
export class InstanceProtocol {
  private readonly empty = new Set<string>();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly signal: WorkSignal,
  ) {
    signal.onRunnersWoken((ids) => {
      if (ids === null) this.empty.clear();
      else for (const id of ids) this.empty.delete(id);
    });
  }

  /** Forgets that these runners hold no instance (their list just changed, in this process). */
  forget(runnerIds: Array<string | null>): void {
    for (const id of runnerIds) if (id) this.empty.delete(id);
  }

  /** True when this runner is known to hold and be given no instance. */
  knownEmpty(runnerId: string): boolean {
    return this.signal.reliable && this.empty.has(runnerId);
  }

  /**
   * What this runner's instances hold (SPEC section 10: runs are matched against what instances
   * leave free), or null when it holds none. Free for runners known to hold none.
   */
  async claimed(runnerId: string): Promise<{ cpu: number; memory: number; disk: number } | null> {
    if (this.knownEmpty(runnerId)) return null;
    const rows: Array<{ n: string; cpu: string; memory: string; disk: string }> = await this.db.query(
      `SELECT count(*) AS n, coalesce(sum(CASE WHEN status = 'STOPPED' THEN 0 ELSE res_cpu END), 0) AS cpu,
              coalesce(sum(CASE WHEN status = 'STOPPED' THEN 0 ELSE res_memory END), 0) AS memory,
              coalesce(sum(res_disk), 0) AS disk
       FROM instance WHERE runner_id = $1 AND status NOT IN ('TERMINATED', 'FAILED')`,
      [runnerId],
    );
    const r = rows[0];
    if (!r || Number(r.n) === 0) return null;
    return { cpu: Number(r.cpu), memory: Number(r.memory), disk: Number(r.disk) };
  }

  /**
   * True when this runner's placed instances and its running run together exceed its resources,
   * read afresh. Called after a run was claimed for a runner that can hold instances: a placement
   * holds the runner's row `FOR UPDATE` while it counts the runner's running run, and a claim's
   * foreign key on `run.runner_id` takes `FOR KEY SHARE` on that row, so the two never miss each
   * other except one way: a claim that read the instances before a placement committed and waited
   * for it. This read, after the claim, sees that placement; the run then goes back (HeartbeatService).
   * Only the resources the run asked for count (a run that takes no room never goes back).
   */
  async overcommitted(runnerId: string, run: { res_cpu: number; res_memory: number; res_disk: number }): Promise<boolean> {
    if (run.res_cpu <= 0 && run.res_memory <= 0 && run.res_disk <= 0) return false; // it takes no room
    const rows: Array<{ over: boolean }> = await this.db.query(
      `SELECT ($2 > 0 AND coalesce(w.res_cpu, 2147483647) < i.cpu + r.cpu) OR ($3 > 0 AND coalesce(w.res_memory, 2147483647) < i.memory + r.memory)
              OR ($4 > 0 AND coalesce(w.res_disk, 2147483647) < i.disk + r.disk) AS over
       FROM runner w,
            LATERAL (SELECT coalesce(sum(CASE WHEN status = 'STOPPED' THEN 0 ELSE res_cpu END), 0) AS cpu,
                            coalesce(sum(CASE WHEN status = 'STOPPED' THEN 0 ELSE res_memory END), 0) AS memory,
                            coalesce(sum(res_disk), 0) AS disk
                     FROM instance WHERE runner_id = w.id AND status NOT IN ('TERMINATED', 'FAILED')) i,
            LATERAL (SELECT coalesce(sum(res_cpu), 0) AS cpu, coalesce(sum(res_memory), 0) AS memory, coalesce(sum(res_disk), 0) AS disk
                     FROM run WHERE runner_id = w.id AND state = 'running') r
       WHERE w.id = $1`,
      [runnerId, run.res_cpu, run.res_memory, run.res_disk],
    );
    return rows[0]?.over === true;
  }

  /** True when a heartbeat's report needs no look at all (`report` would do nothing). */
  nothingToSettle(runnerId: string, reports: InstanceReport[] | undefined): boolean {
    return reports === undefined || (reports.length === 0 && this.knownEmpty(runnerId));
  }

  /**
   * Settles what a heartbeat reports (undefined: a runner that does not speak instances). True
   * when the report disagrees with the desired list (an instance missing or of another
   * generation, one running that should be stopped, a copy it should not hold): the runner has
   * not acted on the list yet (its last answer was lost, or it just restarted), so the heartbeat
   * is answered at once instead of being held, and the list reaches it now.
   */
  async report(runnerId: string, reports: InstanceReport[] | undefined, requestIp: string | null): Promise<boolean> {
    if (reports === undefined || this.nothingToSettle(runnerId, reports)) return false;
    const byId = new Map(reports.map((r) => [r.id, r]));
    return this.db.transaction(async (tx) => {
      const rows: HeldRow[] = await tx.query(
        `SELECT id, desired, reported, status, generation, ip, published, restarts, description FROM instance
         WHERE runner_id = $1 AND status <> 'TERMINATED' ORDER BY id FOR UPDATE`,
        [runnerId],
      );
      const changes: Array<HeldRow & { placed: boolean }> = [];
      let unsettled = reports.some((r) => !rows.some((row) => row.id === r.id));
      for (const row of rows) {
        const r = byId.get(row.id);
        unsettled ||= disagrees(row, r);
        let next: HeldRow & { placed: boolean };
        if (r && (r.generation === undefined || r.generation === row.generation)) {
          next = {
            ...row,
            placed: true,
            reported: r.status,
            ip: r.ip ?? requestIp ?? row.ip,
            published: r.ports ?? [],
            restarts: r.restarts ?? row.restarts,
            description: r.description ?? `${r.status} on its runner`,
          };
        } else if (!r) {
          const gone = row.desired === 'DESTROYED';
          next = {
            ...row,
            placed: !gone,
            reported: null,
            published: gone ? [] : row.published,
            description: gone ? 'removed by its runner' : row.reported !== null ? 'its runner no longer holds it' : row.description,
          };
        } else continue;
        next.status = instanceStatus({ desired: row.desired, placed: next.placed, reported: next.reported });
        if (
          next.status !== row.status ||
          next.reported !== row.reported ||
          next.ip !== row.ip ||
          !sameList(next.published, row.published) ||
          next.restarts !== row.restarts ||
          next.description !== row.description ||
          !next.placed
        ) {
          changes.push(next);
        }
      }
      if (changes.length === 0) return unsettled;
      await tx.query(
        `UPDATE instance i SET status = v.status, reported = v.reported, ip = v.ip, published = ARRAY(SELECT jsonb_array_elements_text(v.published)),
                restarts = v.restarts, description = v.description, reported_at = now(), updated_at = now(),
                runner_id = CASE WHEN v.placed THEN i.runner_id END
         FROM (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::int[], $7::text[], $8::boolean[])
               AS t(id, status, reported, ip, published, restarts, description, placed)) v
         WHERE i.id = v.id`,
        [
          changes.map((c) => c.id),
          changes.map((c) => c.status),
          changes.map((c) => c.reported),
          changes.map((c) => c.ip),
          changes.map((c) => JSON.stringify(c.published)),
          changes.map((c) => c.restarts),
          changes.map((c) => c.description),
          changes.map((c) => c.placed),
        ],
      );
      return unsettled;
    });
  }

  /**
   * The whole desired list for this runner, or undefined when it holds and should hold nothing
   * (then the response carries no `instances` at all). `reportedAny`: it said it holds some.
   */
  async desiredFor(runnerId: string, reportedAny: boolean): Promise<DesiredInstance[] | undefined> {
    if (!reportedAny && this.knownEmpty(runnerId)) return undefined;
    const epoch = this.signal.runnerEpoch;
    const rows: DesiredRow[] = await this.db.query(
      `SELECT id, name, uri, command, environment, res_cpu, res_memory, res_disk, ports, desired, generation
       FROM instance WHERE runner_id = $1 AND status <> 'TERMINATED' ORDER BY seq`,
      [runnerId],
    );
    if (rows.length === 0) {
      if (epoch === this.signal.runnerEpoch && this.signal.reliable) this.empty.add(runnerId);
      return reportedAny ? [] : undefined;
    }
    return rows
      .filter((r) => r.desired !== 'DESTROYED')
      .map((r) => ({
        id: r.id,
        name: r.name,
        uri: r.uri,
        ...(r.command !== null && { command: r.command }),
        environment: r.environment,
        resources: { cpu: r.res_cpu, memory: r.res_memory, disk: r.res_disk },
        ports: r.ports,
        state: r.desired === 'STOPPED' ? 'STOPPED' : 'RUNNING',
        generation: r.generation,
      }));
  }
}
