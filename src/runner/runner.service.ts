import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import { Cursors } from '../common/common.module';
import { Conflict, Forbidden, NotFound, Unauthenticated } from '../common/errors';
import { DEFAULT_LIMIT, Page } from '../common/pagination';
import { newRunnerToken, RUNNER_TOKEN_PREFIX, secretEquals, sha256, sha256Hex } from '../common/secrets';
import { returned } from '../common/sql';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
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
import { AuthenticatedRunner, RunnerCache } from './runner-cache';

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
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly dispatch: DispatchService,
    private readonly signal: WorkSignal,
    private readonly cursors: Cursors,
    private readonly cache: RunnerCache,
  ) {}

  async register(req: RegistrationRequest, ip: string | null): Promise<RegistrationResponse> {
    if (!secretEquals(req.token, this.config.registrationToken)) {
      throw new Unauthenticated('Invalid registration token');
    }
    const id = randomUUID();
    const token = newRunnerToken();
    const caps = capabilitiesOf(req);
    await this.db.query(
      `INSERT INTO runner (id, name, token_hash, labels, framework, framework_name, system,
                           res_cpu, res_memory, res_disk, ip,
                           container, executors, default_image, can_shell, can_container)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [
        id,
        req.name ?? `runner-${id.slice(0, 8)}`,
        sha256(token),
        [...new Set(req.labels ?? [])],
        req.framework ? JSON.stringify(req.framework) : null,
        frameworkName(req.framework),
        systemFacts(req.framework) ? JSON.stringify(systemFacts(req.framework)) : null,
        req.resources?.cpu ?? null,
        req.resources?.memory ?? null,
        req.resources?.disk ?? null,
        ip,
        caps.container,
        caps.executors,
        caps.defaultImage,
        caps.canShell,
        caps.canContainer,
      ],
    );
    return { runner_id: id, runner_token: token };
  }

  /**
   * The runner a token belongs to. 401 for no token or one no runner has; 403 (the exact body of
   * SPEC section 2) for a deregistered runner's token. Answered from memory when recently seen
   * (RunnerCache: a deregistration reaches every process's cache at once).
   */
  async authenticate(token: string): Promise<AuthenticatedRunner> {
    // Never query with an empty credential (typeorm #9316: an undefined filter matches any row).
    if (!token) throw new Unauthenticated('Missing bearer token: send Authorization: Bearer <runner_token>');
    if (!token.startsWith(RUNNER_TOKEN_PREFIX)) throw new Unauthenticated('Invalid runner token');
    const key = sha256Hex(token);
    const cached = this.cache.token(key);
    if (cached) return cached;
    const digest = Buffer.from(key, 'hex');
    const version = this.cache.version;
    const rows: Array<{ id: string; token_hash: Buffer; deregistered_at: Date | null }> = await this.db.query(
      `SELECT id, token_hash, deregistered_at FROM runner WHERE token_hash = $1`,
      [digest],
    );
    const runner = rows[0];
    if (!runner || !timingSafeEqual(runner.token_hash, digest)) throw new Unauthenticated('Invalid runner token');
    if (runner.deregistered_at) throw new Forbidden();
    const found = { id: runner.id };
    this.cache.rememberToken(key, found, version);
    return found;
  }

  /**
   * Blacklists a runner for good and gives back the run it held (waiting again, or failed when it
   * has no attempts left). Deregistering twice changes nothing.
   */
  async deregister(id: string): Promise<void> {
    const requeued = await this.db.transaction(async (tx) => {
      const rows = returned<{ id: string }>(
        await tx.query(
          `UPDATE runner SET deregistered_at = COALESCE(deregistered_at, now()), state = 'dead', enabled = false
           WHERE id = $1 RETURNING id`,
          [id],
        ),
      );
      if (!rows.length) throw new NotFound(`runner ${id} does not exist`);
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
  async setEnabled(id: string, enabled: boolean): Promise<RunnerDetail> {
    const rows = returned<{ id: string }>(
      await this.db.query(
        `UPDATE runner SET enabled = $2 WHERE id = $1 AND deregistered_at IS NULL RETURNING id`,
        [id, enabled],
      ),
    );
    await this.signal.announceRunnerChanged(id, (sql, params) => this.db.query(sql, params));
    if (!rows.length) {
      const runner = await this.get(id); // 404 when absent
      if (runner.deregistered) throw new Conflict(`runner ${id} is deregistered: it can never run again`);
    }
    return this.get(id);
  }
}
