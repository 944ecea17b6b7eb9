import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { type Caller, SYSTEM_ACTOR } from '../auth/scopes';
import { Cursors } from '../common/common.module';
import { Conflict, InvalidInput, NotFound } from '../common/errors';
import { DEFAULT_LIMIT, Page } from '../common/pagination';
import { returned } from '../common/sql';
import { UUID_PATTERN } from '../common/validation';
import {
  checkPorts,
  mapWorkload,
  PatchWorkloadRequest,
  PutWorkloadRequest,
  TemplateFields,
  TemplateRow,
  WorkloadListQuery,
  WorkloadResponse,
} from './workload.dto';

const UNIQUE_VIOLATION = '23505';

/** The template columns, in the order `templateValues()` gives them. */
export const TEMPLATE_COLUMNS = ['type', 'uri', 'command', 'environment', 'res_cpu', 'res_memory', 'res_disk', 'ports', 'labels'] as const;

/** The template columns a body sets (only those it has), with their values; 400 on bad ports. */
export function templateChanges(body: TemplateFields): Map<string, unknown> {
  const set = new Map<string, unknown>();
  if (body.type !== undefined) set.set('type', body.type);
  if (body.uri !== undefined) set.set('uri', body.uri);
  if (body.command !== undefined) set.set('command', body.command);
  if (body.environment !== undefined) set.set('environment', body.environment);
  if (body.resources !== undefined) {
    set.set('res_cpu', body.resources.cpu ?? 0);
    set.set('res_memory', body.resources.memory ?? 0);
    set.set('res_disk', body.resources.disk ?? 0);
  }
  if (body.ports !== undefined) {
    const bad = checkPorts(body.ports);
    if (bad) throw new InvalidInput(bad);
    set.set('ports', body.ports);
  }
  if (body.labels !== undefined) set.set('labels', [...new Set(body.labels)].sort());
  return set;
}

export function mustBeUuid(id: string, what: string): void {
  if (!UUID_PATTERN.test(id)) throw new NotFound(`no ${what} ${JSON.stringify(id.slice(0, 100))}`);
}

/** Workloads (SPEC section 10): named templates instances are made from. */
@Injectable()
export class WorkloadService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly audit: AuditService,
    private readonly cursors: Cursors,
  ) {}

  async list(query: WorkloadListQuery): Promise<Page<WorkloadResponse>> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const after = query.cursor ? this.cursors.decode('workload', query.cursor) : null;
    const rows: TemplateRow[] = await this.db.query(
      `SELECT * FROM workload WHERE ($1::text IS NULL OR type = $1) AND ($2::bigint IS NULL OR seq > $2)
       ORDER BY seq LIMIT $3 OFFSET $4`,
      [query.type ?? null, after, limit + 1, query.offset ?? 0],
    );
    return this.cursors.page('workload', rows, limit, mapWorkload);
  }

  async get(id: string): Promise<TemplateRow> {
    mustBeUuid(id, 'workload');
    const rows: TemplateRow[] = await this.db.query(`SELECT * FROM workload WHERE id = $1`, [id]);
    if (!rows.length) throw new NotFound(`no workload ${id}`);
    return rows[0];
  }

  async create(body: PutWorkloadRequest, caller?: Caller): Promise<TemplateRow> {
    if (body.uri === undefined) throw new InvalidInput('uri must be given: the image, such as "debian:12"');
    const set = templateChanges(body);
    const id = randomUUID();
    const cols = ['id', 'name', ...set.keys()];
    const values = [id, body.name, ...set.values()];
    return this.write(body.name, async (tx) => {
      const rows: TemplateRow[] = await tx.query(
        `INSERT INTO workload (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING *`,
        values,
      );
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'workload.created', { type: 'workload', id }, { name: body.name });
      return rows[0];
    });
  }

  /** Changes the template only: instances already made keep their own copy. */
  async change(id: string, body: PatchWorkloadRequest, caller?: Caller): Promise<TemplateRow> {
    mustBeUuid(id, 'workload');
    const set = templateChanges(body);
    if (body.name !== undefined) set.set('name', body.name);
    const cols = [...set.keys()];
    return this.write(body.name ?? '', async (tx) => {
      const rows = returned<TemplateRow>(
        await tx.query(
          `UPDATE workload SET ${cols.map((c, i) => `${c} = $${i + 2}, `).join('')}updated_at = now() WHERE id = $1 RETURNING *`,
          [id, ...set.values()],
        ),
      );
      if (!rows.length) throw new NotFound(`no workload ${id}`);
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'workload.changed', { type: 'workload', id }, { name: rows[0].name, fields: cols });
      return rows[0];
    });
  }

  /** Deletes and returns it; 409 while an instance made from it is not TERMINATED. */
  async delete(id: string, caller?: Caller): Promise<TemplateRow> {
    mustBeUuid(id, 'workload');
    return this.db.transaction(async (tx) => {
      const rows: TemplateRow[] = await tx.query(`SELECT * FROM workload WHERE id = $1 FOR UPDATE`, [id]);
      if (!rows.length) throw new NotFound(`no workload ${id}`);
      const used: Array<{ n: string }> = await tx.query(
        `SELECT count(*) AS n FROM instance WHERE workload_id = $1 AND status <> 'TERMINATED'`,
        [id],
      );
      const n = Number(used[0].n);
      if (n > 0) throw new Conflict(`workload ${rows[0].name} is still used by ${n} instance(s) not TERMINATED: delete them first`);
      await tx.query(`DELETE FROM workload WHERE id = $1`, [id]);
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'workload.deleted', { type: 'workload', id }, { name: rows[0].name });
      return rows[0];
    });
  }

  private async write<T>(name: string, work: (tx: import('typeorm').EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.db.transaction(work);
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) throw new Conflict(`a workload named ${name} already exists`);
      throw err;
    }
  }
}
