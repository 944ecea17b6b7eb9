import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Conflict, NotFound } from '../common/errors';
import { NAME_PATTERN } from '../common/validation';
import type { Namespace } from './namespace.entity';

@Injectable()
export class NamespaceService {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async list(): Promise<Namespace[]> {
    return this.db.query(`SELECT name, repositories FROM namespace ORDER BY name`);
  }

  async get(name: string): Promise<Namespace> {
    // No such name can exist (and one with a NUL in it could not even be queried).
    if (!NAME_PATTERN.test(name)) throw new NotFound(`namespace "${name}" does not exist`);
    const rows: Namespace[] = await this.db.query(`SELECT name, repositories FROM namespace WHERE name = $1`, [name]);
    if (!rows.length) throw new NotFound(`namespace "${name}" does not exist`);
    return rows[0];
  }

  /** Creates or replaces; `created` tells which (201 or 200). */
  async put(name: string, repositories: string[]): Promise<{ namespace: Namespace; created: boolean }> {
    const unique = [...new Set(repositories)];
    const rows: Array<Namespace & { created: boolean }> = await this.db.query(
      `INSERT INTO namespace (name, repositories) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET repositories = EXCLUDED.repositories, updated_at = now()
       RETURNING name, repositories, (xmax = 0) AS created`,
      [name, unique],
    );
    const { created, ...namespace } = rows[0];
    return { namespace, created };
  }

  /**
   * Deletes a namespace that has no run still waiting or running. The row lock makes the check
   * and the delete one step against a concurrent submission (which takes a share lock).
   */
  async delete(name: string): Promise<Namespace> {
    if (!NAME_PATTERN.test(name)) throw new NotFound(`namespace "${name}" does not exist`);
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
      return rows[0];
    });
  }
}
