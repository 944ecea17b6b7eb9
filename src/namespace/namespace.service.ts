import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Caller, seesNamespace, SYSTEM_ACTOR } from '../auth/scopes';
import { Conflict, NotFound } from '../common/errors';
import { NAME_PATTERN } from '../common/validation';
import type { Namespace } from './namespace.entity';

@Injectable()
export class NamespaceService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly audit: AuditService,
  ) {}

  /** Every namespace, or those a namespace-bound caller may see. */
  async list(caller?: Caller): Promise<Namespace[]> {
    return this.db.query(
      `SELECT name, repositories FROM namespace WHERE ($1::text[] IS NULL OR name = ANY($1)) ORDER BY name`,
      [caller?.namespaces ?? null],
    );
  }

  async get(name: string, caller?: Caller): Promise<Namespace> {
    // No such name can exist (and one with a NUL in it could not even be queried); a
    // namespace-bound caller does not see the others.
    if (!NAME_PATTERN.test(name) || !seesNamespace(caller, name)) throw new NotFound(`namespace "${name}" does not exist`);
    const rows: Namespace[] = await this.db.query(`SELECT name, repositories FROM namespace WHERE name = $1`, [name]);
    if (!rows.length) throw new NotFound(`namespace "${name}" does not exist`);
    return rows[0];
  }

  /** Creates or replaces; `created` tells which (201 or 200). */
  async put(name: string, repositories: string[], caller?: Caller): Promise<{ namespace: Namespace; created: boolean }> {
    if (!seesNamespace(caller, name)) throw new NotFound(`namespace "${name}" does not exist`);
    const unique = [...new Set(repositories)];
    const rows = await this.db.transaction(async (tx) => {
      const written: Array<Namespace & { created: boolean }> = await tx.query(
        `INSERT INTO namespace (name, repositories) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET repositories = EXCLUDED.repositories, updated_at = now()
         RETURNING name, repositories, (xmax = 0) AS created`,
        [name, unique],
      );
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'namespace.put', { type: 'namespace', id: name }, {
        repositories: unique.length,
        created: written[0].created,
      });
      return written;
    });
    const { created, ...namespace } = rows[0];
    return { namespace, created };
  }

  /**
   * Deletes a namespace that has no run still waiting or running. The row lock makes the check
   * and the delete one step against a concurrent submission (which takes a share lock).
   */
  async delete(name: string, caller?: Caller): Promise<Namespace> {
    if (!NAME_PATTERN.test(name) || !seesNamespace(caller, name)) throw new NotFound(`namespace "${name}" does not exist`);
    return this.db.transaction(async (tx) => {
      const rows: Namespace[] = await tx.query(
        `SELECT name, repositories FROM namespace WHERE name = $1 FOR UPDATE`,
        [name],
      );
      if (!rows.length) throw new NotFound(`namespace "${name}" does not exist`);
      const active: Array<{ n: string }> = await tx.query(
        // Runs that are not final (run/run-state.ts); namespace sits below run, so it names them here.
        `SELECT count(*) AS n FROM run WHERE namespace = $1 AND state IN ('waiting', 'running')`,
        [name],
      );
      const n = Number(active[0].n);
      if (n > 0) {
        throw new Conflict(`namespace "${name}" still has ${n} run(s) waiting or running: cancel them first`);
      }
      await tx.query(`DELETE FROM namespace WHERE name = $1`, [name]);
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'namespace.deleted', { type: 'namespace', id: name });
      return rows[0];
    });
  }
}
