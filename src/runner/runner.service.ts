import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { RegistrationTokenService } from '../auth/registration-token.service';
import { Actor, SYSTEM_ACTOR } from '../auth/scopes';
import { Cursors } from '../common/common.module';
import { Conflict, NotFound, Unauthenticated } from '../common/errors';
import { DEFAULT_LIMIT, Page } from '../common/pagination';
import { newRunnerToken, sha256 } from '../common/secrets';
import { returned } from '../common/sql';
import { DispatchService } from '../run/dispatch.service';
import { WorkSignal } from '../database/work-signal';
import {
  mapRunnerDetail,
  mapRunnerSummary,
  RegistrationRequest,
  RegistrationResponse,
  RunnerDetail,
  RunnerListQuery,
  RunnerSummary,
} from './runner.dto';
import type { RunnerRow } from './runner.entity';
import { capabilitiesOf } from './capabilities';
import { RunnerTokenService } from './runner-token.service';

/** `runner` columns plus the run it holds now (at most one: a unique index says so). */
export const RUNNER_SELECT = `
  SELECT u.*, (SELECT r.id FROM run r WHERE r.runner_id = u.id AND r.state = 'running') AS current_run
  FROM runner u`;

/** The framework name a run's `framework` is matched against (seed 003's `framework.name`). */
export function frameworkName(framework: Record<string, unknown> | undefined | null): string | null {
  const name = framework?.name;
  return typeof name === 'string' && name.length > 0 ? name : null;
}

/** The `system` facts a runner reports inside its framework (seed 003). */
export function systemFacts(framework: Record<string, unknown> | undefined | null): Record<string, unknown> | null {
  const system = framework?.system;
  return system && typeof system === 'object' && !Array.isArray(system) ? (system as Record<string, unknown>) : null;
}

/** Runner identities: registration, token checks, deregistration (the blacklist), admin views. */
@Injectable()
export class RunnerService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly dispatch: DispatchService,
    private readonly signal: WorkSignal,
    private readonly cursors: Cursors,
    private readonly registrationTokens: RegistrationTokenService,
    private readonly runnerTokens: RunnerTokenService,
    private readonly audit: AuditService,
  ) {}

  /**
   * Registers a runner with a registration token (a `pulse_reg_…` one, used up atomically, or the
   * bootstrap RUNNER_REGISTRATION_TOKEN). The runner gets the token's labels and namespaces.
   */
  async register(req: RegistrationRequest, ip: string | null): Promise<RegistrationResponse> {
    const id = randomUUID();
    const token = newRunnerToken();
    const name = req.name ?? `runner-${id.slice(0, 8)}`;
    const caps = capabilitiesOf(req);
    await this.db.transaction(async (tx) => {
      const grant = await this.registrationTokens.consume(tx, req.token).catch((err: unknown) => {
        if (err instanceof Unauthenticated) this.audit.deniedRequest(ip, 401, 'POST', '/api/runner/registration', err.message);
        throw err;
      });
      const labels = [...new Set([...(req.labels ?? []), ...grant.labels])];
      await tx.query(
        `INSERT INTO runner (id, name, token_hash, labels, framework, framework_name, system,
                             res_cpu, res_memory, res_disk, ip, namespaces, registration_token_id, token_expires_at,
                             container, executors, default_image, can_shell, can_container)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
        [
          id,
          name,
          sha256(token),
          labels,
          req.framework ? JSON.stringify(req.framework) : null,
          frameworkName(req.framework),
          systemFacts(req.framework) ? JSON.stringify(systemFacts(req.framework)) : null,
          req.resources?.cpu ?? null,
          req.resources?.memory ?? null,
          req.resources?.disk ?? null,
          ip,
          grant.namespaces,
          grant.tokenId,
          this.runnerTokens.expiryFromNow(),
          caps.container,
          caps.executors,
          caps.defaultImage,
          caps.canShell,
          caps.canContainer,
        ],
      );
      await this.audit.record(tx, { type: 'runner', id, name, ip }, 'runner.registered', { type: 'runner', id }, {
        registration_token: grant.tokenId ?? 'bootstrap',
        labels,
        namespaces: grant.namespaces,
      });
    });
    return { runner_id: id, runner_token: token };
  }

  /**
   * Blacklists a runner for good and gives back the run it held (waiting again, or failed when it
   * has no attempts left). Deregistering twice changes nothing.
   */
  async deregister(id: string, actor: Actor = SYSTEM_ACTOR): Promise<void> {
    const requeued = await this.db.transaction(async (tx) => {
      const rows = returned<{ id: string; was_deregistered: boolean }>(
        await tx.query(
          `UPDATE runner u SET deregistered_at = COALESCE(u.deregistered_at, now()), state = 'dead', enabled = false
           FROM runner old WHERE u.id = $1 AND old.id = u.id
           RETURNING u.id, old.deregistered_at IS NOT NULL AS was_deregistered`,
          [id],
        ),
      );
      if (!rows.length) throw new NotFound(`runner ${id} does not exist`);
      if (!rows[0].was_deregistered) await this.audit.record(tx, actor, 'runner.deregistered', { type: 'runner', id });
      const released = await this.dispatch.releaseAll(tx, id, 'runner deregistered');
      return released.filter((r) => r.state === 'waiting').length;
    });
    await this.signal.announceRunnerChanged(id, (sql, params) => this.db.query(sql, params));
    await this.signal.announce(requeued, (sql, params) => this.db.query(sql, params));
  }

  async list(query: RunnerListQuery): Promise<Page<RunnerSummary>> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const before = query.cursor ? this.cursors.decode('runner', query.cursor) : null;
    const rows: RunnerRow[] = await this.db.query(
      `${RUNNER_SELECT} WHERE ($1::bigint IS NULL OR u.seq < $1) ORDER BY u.seq DESC LIMIT $2`,
      [before, limit + 1],
    );
    return this.cursors.page('runner', rows, limit, mapRunnerSummary);
  }

  async get(id: string): Promise<RunnerDetail> {
    const rows: RunnerRow[] = await this.db.query(`${RUNNER_SELECT} WHERE u.id = $1`, [id]);
    if (!rows.length) throw new NotFound(`runner ${id} does not exist`);
    const runs: Array<{ id: string }> = await this.db.query(
      `SELECT id FROM run WHERE runner_id = $1 ORDER BY dispatched_at DESC NULLS LAST, seq DESC LIMIT 100`,
      [id],
    );
    return mapRunnerDetail(rows[0], runs.map((r) => r.id));
  }

  /** The admin switch: a disabled runner keeps heartbeating but receives no run. */
  async setEnabled(id: string, enabled: boolean, actor: Actor = SYSTEM_ACTOR): Promise<RunnerDetail> {
    const rows = await this.db.transaction(async (tx) => {
      const changed = returned<{ id: string }>(
        await tx.query(`UPDATE runner SET enabled = $2 WHERE id = $1 AND deregistered_at IS NULL RETURNING id`, [id, enabled]),
      );
      if (changed.length) await this.audit.record(tx, actor, enabled ? 'runner.enabled' : 'runner.disabled', { type: 'runner', id });
      return changed;
    });
    await this.signal.announceRunnerChanged(id, (sql, params) => this.db.query(sql, params));
    if (!rows.length) {
      const runner = await this.get(id); // 404 when absent
      if (runner.deregistered) throw new Conflict(`runner ${id} is deregistered: it can never run again`);
    }
    return this.get(id);
  }
}
