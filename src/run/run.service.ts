import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Caller, seesNamespace, SYSTEM_ACTOR } from '../auth/scopes';
import { BatchService } from '../batch/batch.service';
import { Cursors } from '../common/common.module';
import { Conflict, InvalidInput, NotFound } from '../common/errors';
import { DEFAULT_LIMIT, Page } from '../common/pagination';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { WorkSignal } from '../database/work-signal';
import { returned } from '../common/sql';
import { NamespaceService } from '../namespace/namespace.service';
import { SecretService } from '../secret/secret.service';
import { isFinal, RunState } from './run-state';
import { mapRunDetail, mapRunSummary, RunDetail, RunListQuery, RunSummary, SubmitRunsRequest } from './run.dto';
import type { RunRow } from './run.entity';
import { NewRun, RunRepository } from './run.repository';

/** Submitting, reading and canceling runs: the user side of the run module. */
@Injectable()
export class RunService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly runs: RunRepository,
    private readonly namespaces: NamespaceService,
    private readonly batches: BatchService,
    private readonly signal: WorkSignal,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly cursors: Cursors,
    private readonly audit: AuditService,
    private readonly secrets: SecretService,
  ) {}

  /**
   * One run per job, else per repo, else per repository of the namespace (SPEC section 3),
   * inserted in one statement, then announced to long-polling runners.
   */
  async submit(req: SubmitRunsRequest, caller?: Caller): Promise<{ batch_id: string; runs: string[] }> {
    // A namespace-bound caller cannot tell another namespace from a missing one.
    if (!seesNamespace(caller, req.namespace)) throw new NotFound(`namespace "${req.namespace}" does not exist`);
    const script = typeof req.script === 'string' ? req.script.split('\n') : req.script;
    const batchId = randomUUID();
    const planned = await this.db.transaction(async (tx) => {
      // A share lock: the namespace cannot be deleted while this submission adds runs to it.
      const rows: Array<{ repositories: string[] }> = await tx.query(
        `SELECT repositories FROM namespace WHERE name = $1 FOR SHARE`,
        [req.namespace],
      );
      if (!rows.length) throw new NotFound(`namespace "${req.namespace}" does not exist`);
      const runs = this.plan(req, new Set(rows[0].repositories), rows[0].repositories);
      const secrets = [...new Set(req.secrets ?? [])];
      await this.checkSecrets(tx, req, runs, secrets);
      await this.batches.create(tx, batchId, req.namespace);
      await this.runs.insertMany(
        tx,
        {
          batchId,
          namespace: req.namespace,
          script,
          timeout: req.timeout ?? this.config.runDefaultTimeout,
          labels: [...new Set(req.labels ?? [])],
          framework: req.framework ?? null,
          cpu: req.resources?.cpu ?? 0,
          memory: req.resources?.memory ?? 0,
          disk: req.resources?.disk ?? 0,
          priority: req.priority ?? 0,
          maxAttempts: req.max_attempts ?? this.config.maxAttempts,
          secrets,
        },
        runs,
      );
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'run.submitted', { type: 'batch', id: batchId }, {
        namespace: req.namespace,
        runs: runs.length,
      });
      await this.signal.announce(runs.length, (sql, params) => tx.query(sql, params));
      return runs;
    });
    return { batch_id: batchId, runs: planned.map((r) => r.id) };
  }

  /** Every named secret exists in the namespace, and no env of the submission sets one of them. */
  private async checkSecrets(tx: EntityManager, req: SubmitRunsRequest, runs: NewRun[], secrets: string[]): Promise<void> {
    if (secrets.length === 0) return;
    const missing = await this.secrets.firstMissing((sql, params) => tx.query(sql, params), req.namespace, secrets);
    if (missing !== undefined) {
      throw new InvalidInput(`secrets.${(req.secrets ?? []).indexOf(missing)} "${missing}" is not a secret of namespace "${req.namespace}"`);
    }
    for (const run of runs) {
      const clash = secrets.find((name) => Object.prototype.hasOwnProperty.call(run.env, name));
      if (clash) throw new InvalidInput(`env sets ${clash}, which secrets also names: a variable comes from one or the other`);
    }
  }

  private plan(req: SubmitRunsRequest, allowed: Set<string>, all: string[]): NewRun[] {
    const env = req.env ?? {};
    const check = (repo: string, field: string): string => {
      if (!allowed.has(repo)) {
        throw new InvalidInput(`${field} "${repo}" is not a repository of namespace "${req.namespace}"`);
      }
      return repo;
    };
    if (req.jobs) {
      return req.jobs.map((job, i) => {
        let repo = job.repo;
        if (repo === undefined) {
          if (req.repos?.length !== 1) {
            throw new InvalidInput(`jobs.${i}.repo is missing, and repos does not have exactly one entry to use instead`);
          }
          repo = req.repos[0];
        }
        return {
          id: randomUUID(),
          repo: check(repo, `jobs.${i}.repo`),
          env: { ...env, ...(job.env ?? {}) },
          payload: job.payload ?? null,
          image: job.image ?? req.image ?? null,
        };
      });
    }
    const repos = req.repos ?? all;
    if (repos.length === 0) {
      throw new InvalidInput(`namespace "${req.namespace}" has no repositories and the submission names none`);
    }
    return repos.map((repo, i) => ({ id: randomUUID(), repo: check(repo, `repos.${i}`), env, payload: null, image: req.image ?? null }));
  }

  async list(query: RunListQuery, caller?: Caller): Promise<Page<RunSummary>> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const before = query.cursor ? this.cursors.decode('run', query.cursor) : null;
    const rows = await this.runs.list({ ...query, before, limit: limit + 1, namespaces: caller?.namespaces ?? null });
    return this.cursors.page('run', rows, limit, mapRunSummary);
  }

  async get(id: string, caller?: Caller): Promise<RunDetail> {
    const run = await this.mustFind(id, caller);
    return mapRunDetail(run, run.state === RunState.Waiting ? await this.pendingReason(run) : null);
  }

  /** The run, if the caller may see it (a namespace-bound caller sees its namespaces' only). */
  async mustFind(id: string, caller?: Caller): Promise<RunRow> {
    const run = await this.runs.findById(id);
    if (!run || !seesNamespace(caller, run.namespace)) throw new NotFound(`run ${id} does not exist`);
    return run;
  }

  /**
   * Why a waiting run is not running yet, from the runners that could take it: the SQL function
   * `pulse_pending_reason` (migration PendingReasonInSql), which the feed's run events use too.
   */
  private async pendingReason(run: RunRow): Promise<string> {
    const [row]: Array<{ reason: string }> = await this.db.query(
      `SELECT pulse_pending_reason(r) AS reason FROM run r WHERE r.id = $1`,
      [run.id],
    );
    return row?.reason ?? 'waiting';
  }

  /**
   * A waiting run is canceled at once. A running one is told to stop in its runner's next
   * heartbeat or update response, and becomes canceled when the runner confirms, or after
   * CANCEL_GRACE anyway. An offer the runner never acknowledged is canceled at once: the runner
   * learns it with a 409 on its first update.
   */
  async cancel(id: string, caller?: Caller): Promise<RunDetail> {
    const told = await this.db.transaction(async (tx) => {
      const run = await this.runs.lockById(tx, id);
      if (!run || !seesNamespace(caller, run.namespace)) throw new NotFound(`run ${id} does not exist`);
      if (run.state === RunState.Canceled || (run.state === RunState.Running && run.cancel_requested_at)) return [];
      if (isFinal(run.state)) throw new Conflict(`run is already ${run.state}; only a waiting or running run can be canceled`);
      const runners = await this.cancelLocked(tx, [id]);
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'run.canceled', { type: 'run', id }, {
        batch: run.batch_id,
        namespace: run.namespace,
        state: run.state,
      });
      return runners;
    });
    await this.wakeRunners(told);
    return this.get(id, caller);
  }

  /** Cancels every run of a batch that is not final. */
  async cancelBatch(batchId: string, caller?: Caller): Promise<void> {
    if (!(await this.batches.exists(batchId, caller))) throw new NotFound(`batch ${batchId} does not exist`);
    const told = await this.db.transaction(async (tx) => {
      const rows: Array<{ id: string }> = await tx.query(
        `SELECT id FROM run WHERE batch_id = $1 AND state IN ('waiting', 'running') ORDER BY id FOR UPDATE`,
        [batchId],
      );
      const runners = await this.cancelLocked(
        tx,
        rows.map((r) => r.id),
      );
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'batch.canceled', { type: 'batch', id: batchId }, { runs: rows.length });
      return runners;
    });
    await this.wakeRunners(told);
  }

  /** Cancels the runs; returns the runners that must be told to stop one (their busy poll answers now). */
  private async cancelLocked(tx: EntityManager, ids: string[]): Promise<string[]> {
    await tx.query(
      `UPDATE run SET state = 'canceled', finished_at = now(), reason = 'canceled by a user'
       WHERE id = ANY($1::uuid[]) AND (state = 'waiting' OR (state = 'running' AND NOT acknowledged))`,
      [ids],
    );
    const told: unknown = await tx.query(
      `UPDATE run SET cancel_requested_at = now()
       WHERE id = ANY($1::uuid[]) AND state = 'running' AND cancel_requested_at IS NULL
       RETURNING runner_id`,
      [ids],
    );
    return returned<{ runner_id: string | null }>(told).flatMap((r) => (r.runner_id ? [r.runner_id] : []));
  }

  /** After the commit, so the woken poll sees the cancel. A lost wake-up only delays it to the poll's end. */
  private async wakeRunners(runnerIds: string[]): Promise<void> {
    await this.signal.wakeRunners(runnerIds, 'cancel', (sql, params) => this.db.query(sql, params)).catch(() => undefined);
  }
}
