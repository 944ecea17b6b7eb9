import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { type Caller, SYSTEM_ACTOR } from '../auth/scopes';
import { Cursors } from '../common/common.module';
import { Conflict, InvalidInput, NotFound } from '../common/errors';
import { DEFAULT_LIMIT, Page } from '../common/pagination';
import { mustBeUuid, templateChanges } from '../workload/workload.service';
import type { TemplateRow } from '../workload/workload.dto';
import { type Desired, instanceStatus } from './instance-status';
import { InstanceListQuery, InstanceResponse, InstanceRow, mapInstance, PatchInstanceRequest, PutInstanceRequest } from './instance.dto';
import { Placement } from './placement';

/** Fields whose change makes the runner recreate the container (SPEC section 10). */
const RECREATE = new Set(['uri', 'command', 'environment']);
/** Fields whose change may no longer fit the runner: the instance is placed again. */
const REPLACE = new Set(['res_cpu', 'res_memory', 'res_disk', 'ports', 'labels']);

/** Instances (SPEC section 10): CRUD and the desired state; Placement puts them on runners. */
@Injectable()
export class InstanceService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly audit: AuditService,
    private readonly cursors: Cursors,
    private readonly placement: Placement,
  ) {}

  async list(query: InstanceListQuery): Promise<Page<InstanceResponse>> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const after = query.cursor ? this.cursors.decode('instance', query.cursor) : null;
    const rows: InstanceRow[] = await this.db.query(
      `SELECT * FROM instance
       WHERE ($1::text IS NULL OR type = $1) AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR seq > $3)
         AND ($6::uuid IS NULL OR (runner_id = $6 AND status <> 'TERMINATED'))
       ORDER BY seq LIMIT $4 OFFSET $5`,
      [query.type ?? null, query.state ?? null, after, limit + 1, query.offset ?? 0, query.runner ?? null],
    );
    return this.cursors.page('instance', rows, limit, mapInstance);
  }

  async get(id: string): Promise<InstanceRow> {
    mustBeUuid(id, 'instance');
    const rows: InstanceRow[] = await this.db.query(`SELECT * FROM instance WHERE id = $1`, [id]);
    if (!rows.length) throw new NotFound(`no instance ${id}`);
    return rows[0];
  }

  /** Creates it SCHEDULING (desired RUNNING) and tries to place it at once. */
  async create(body: PutInstanceRequest, caller?: Caller): Promise<InstanceRow> {
    const set = templateChanges(body);
    const id = randomUUID();
    await this.db.transaction(async (tx) => {
      let name = body.name;
      if (body.workload_id !== undefined) {
        const rows: TemplateRow[] = await tx.query(`SELECT * FROM workload WHERE id = $1 FOR SHARE`, [body.workload_id]);
        const w = rows[0];
        if (!w) throw new InvalidInput(`workload_id: no workload ${body.workload_id}`);
        name ??= w.name;
        const copy: Record<string, unknown> = {
          type: w.type,
          uri: w.uri,
          command: w.command,
          environment: w.environment,
          res_cpu: w.res_cpu,
          res_memory: w.res_memory,
          res_disk: w.res_disk,
          ports: w.ports,
          labels: w.labels,
        };
        for (const [k, v] of Object.entries(copy)) if (!set.has(k)) set.set(k, v);
        set.set('workload_id', w.id);
      } else if (!set.has('uri')) {
        throw new InvalidInput('uri must be given (the image), or workload_id');
      }
      set.set('name', name ?? `instance-${id.slice(0, 8)}`);
      const status = instanceStatus({ desired: 'RUNNING', placed: false, reported: null });
      const cols = ['id', 'desired', 'status', 'description', ...set.keys()];
      await tx.query(
        `INSERT INTO instance (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
        [id, 'RUNNING', status, 'waiting for placement', ...set.values()],
      );
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'instance.created', { type: 'instance', id }, {
        name: set.get('name'),
        workload_id: body.workload_id ?? null,
      });
    });
    await this.placement.place([id]);
    return this.get(id);
  }

  /** Start, stop, or change fields (a changed image, command or environment recreates it). */
  async change(id: string, body: PatchInstanceRequest, caller?: Caller): Promise<InstanceRow> {
    mustBeUuid(id, 'instance');
    const set = templateChanges(body);
    if (body.name !== undefined) set.set('name', body.name);
    const wake: Array<string | null> = [];
    let place = false;
    await this.db.transaction(async (tx) => {
      const row = await this.lock(tx, id);
      if (row.desired === 'DESTROYED') throw new Conflict(`instance ${row.name} is ${row.status}: it can no longer change`);
      const desired: Desired = body.state ?? row.desired;
      let runnerId = row.runner_id;
      let reported = row.reported;
      let generation = row.generation;
      let restarts = row.restarts;
      let description = row.description;
      const changed = [...set.keys()];
      if (changed.some((c) => REPLACE.has(c)) && runnerId !== null) {
        // Its claim changes: it leaves its runner and is placed again (maybe on the same one).
        wake.push(runnerId);
        runnerId = null;
        reported = null;
        description = 'changed: placed again';
      } else if (changed.some((c) => RECREATE.has(c))) {
        generation++;
        reported = null;
        description = 'changed: its runner recreates it';
      }
      if (body.state === 'RUNNING' && row.status === 'FAILED') {
        generation++;
        reported = null;
        restarts = 0;
        description = 'retrying after FAILED';
      }
      if (body.state !== undefined && body.state !== row.desired) description = `asked to be ${body.state}`;
      const status = instanceStatus({ desired, placed: runnerId !== null, reported });
      if (status === 'SCHEDULING') place = true;
      set.set('desired', desired);
      set.set('runner_id', runnerId);
      set.set('reported', reported);
      set.set('generation', generation);
      set.set('restarts', restarts);
      set.set('status', status);
      set.set('description', description);
      if (runnerId === null) {
        set.set('published', []);
        set.set('ip', null);
      }
      const cols = [...set.keys()];
      await tx.query(`UPDATE instance SET ${cols.map((c, i) => `${c} = $${i + 2}, `).join('')}updated_at = now() WHERE id = $1`, [
        id,
        ...set.values(),
      ]);
      wake.push(runnerId);
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'instance.changed', { type: 'instance', id }, {
        name: row.name,
        fields: changed,
        ...(body.state !== undefined && { state: body.state }),
      });
    });
    await this.placement.wake(wake);
    if (place) await this.placement.place([id]);
    return this.get(id);
  }

  /** Asks its runner to remove it: DESTROYING, then TERMINATED once its runner no longer holds it. */
  async destroy(id: string, caller?: Caller): Promise<InstanceRow> {
    mustBeUuid(id, 'instance');
    const runner = await this.db.transaction(async (tx) => {
      const row = await this.lock(tx, id);
      if (row.desired === 'DESTROYED') return null;
      const status = instanceStatus({ desired: 'DESTROYED', placed: row.runner_id !== null, reported: row.reported });
      await tx.query(
        `UPDATE instance SET desired = 'DESTROYED', status = $2, pending_reason = NULL, updated_at = now(),
                description = CASE WHEN $2 = 'TERMINATED' THEN 'destroyed' ELSE 'asked to be destroyed' END
         WHERE id = $1`,
        [id, status],
      );
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'instance.deleted', { type: 'instance', id }, { name: row.name });
      return row.runner_id;
    });
    await this.placement.wake([runner]);
    return this.get(id);
  }

  private async lock(tx: EntityManager, id: string): Promise<InstanceRow> {
    const rows: InstanceRow[] = await tx.query(`SELECT * FROM instance WHERE id = $1 FOR UPDATE`, [id]);
    if (!rows.length) throw new NotFound(`no instance ${id}`);
    return rows[0];
  }
}
