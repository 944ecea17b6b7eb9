import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { queryPrepared, returned } from '../common/sql';
import { CLAIM_BEST_SQL, executorMatches, MATCHES_RUNNER } from './claim.sql';
import type { DatabaseTarget } from '../database/data-source-options';
import { DATABASE_TARGET } from '../database/database.tokens';
import type { RunRow } from './run.entity';

/** What a runner can take: its labels, framework and capacity (seed 002). */
export interface RunnerCapacity {
  labels: string[];
  framework: string | null;
  cpu: number;
  memory: number;
  disk: number;
  /** Registered with a namespace-bound registration token: runs of these namespaces only (null: any). */
  namespaces: string[] | null;
  /** It runs runs without an image (the shell executor, or a default image on a healthy engine). */
  canShell: boolean;
  /** It runs runs with an image (the container executor on a healthy engine). */
  canContainer: boolean;
}

export interface NewRun {
  id: string;
  repo: string;
  env: Record<string, string>;
  payload: Record<string, unknown> | null;
  image: string | null;
}

export interface SubmissionSettings {
  batchId: string;
  namespace: string;
  script: string[];
  timeout: number;
  labels: string[];
  framework: string | null;
  cpu: number;
  memory: number;
  disk: number;
  priority: number;
  maxAttempts: number;
  /** Names of the namespace's secrets every run of the submission receives. */
  secrets: string[];
}

/**
 * The run table's queries, each one statement that says what it does. Callers pass the
 * EntityManager of their transaction where one is needed.
 */
@Injectable()
export class RunRepository {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(DATABASE_TARGET) private readonly target: DatabaseTarget,
  ) {}

  /** One statement for the whole submission, however many runs (a 20,000-run batch included). */
  async insertMany(tx: EntityManager, s: SubmissionSettings, runs: NewRun[]): Promise<void> {
    await tx.query(
      `INSERT INTO run (id, batch_id, namespace, repo, script, env, payload, timeout, labels, framework,
                        res_cpu, res_memory, res_disk, priority, max_attempts, image, secrets)
       SELECT u.id, $5, $6, u.repo, $7, u.env, u.payload, $8, $9, $10, $11, $12, $13, $14, $15, u.image, $17
       FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[], $16::text[]) WITH ORDINALITY AS u(id, repo, env, payload, image, n)
       ORDER BY u.n`,
      [
        runs.map((r) => r.id),
        runs.map((r) => r.repo),
        runs.map((r) => JSON.stringify(r.env)),
        runs.map((r) => (r.payload === null ? null : JSON.stringify(r.payload))),
        s.batchId,
        s.namespace,
        s.script,
        s.timeout,
        s.labels,
        s.framework,
        s.cpu,
        s.memory,
        s.disk,
        s.priority,
        s.maxAttempts,
        runs.map((r) => r.image),
        s.secrets,
      ],
    );
  }

  async findById(id: string, tx: EntityManager = this.db.manager): Promise<RunRow | undefined> {
    const rows: RunRow[] = await tx.query(`SELECT * FROM run WHERE id = $1`, [id]);
    return rows[0];
  }

  async lockById(tx: EntityManager, id: string): Promise<RunRow | undefined> {
    const rows: RunRow[] = await tx.query(`SELECT * FROM run WHERE id = $1 FOR UPDATE`, [id]);
    return rows[0];
  }

  async list(filter: {
    state?: string;
    batch?: string;
    runner?: string;
    namespace?: string;
    /** A namespace-bound caller's namespaces; null: every namespace. */
    namespaces?: readonly string[] | null;
    before: string | null;
    limit: number;
  }): Promise<RunRow[]> {
    return this.db.query(
      `SELECT * FROM run
       WHERE ($1::text IS NULL OR state = $1) AND ($2::uuid IS NULL OR batch_id = $2)
         AND ($3::uuid IS NULL OR runner_id = $3) AND ($4::text IS NULL OR namespace = $4)
         AND ($5::bigint IS NULL OR seq < $5) AND ($7::text[] IS NULL OR namespace = ANY($7))
       ORDER BY seq DESC LIMIT $6`,
      [
        filter.state ?? null,
        filter.batch ?? null,
        filter.runner ?? null,
        filter.namespace ?? null,
        filter.before,
        filter.limit,
        filter.namespaces ?? null,
      ],
    );
  }

  /**
   * The namespaces that have a waiting run this runner can take, best first: higher priority,
   * then fair share (fewest running runs), then the oldest run. One index probe per namespace,
   * however long its queue.
   */
  async candidateNamespaces(tx: EntityManager, cap: RunnerCapacity): Promise<string[]> {
    const rows: Array<{ namespace: string }> = await tx.query(
      `SELECT n.name AS namespace
       FROM namespace n
       CROSS JOIN LATERAL (
         SELECT r.priority, r.seq FROM run r
         WHERE r.namespace = n.name AND r.state = 'waiting' AND ${MATCHES_RUNNER} AND ${executorMatches(7)}
         ORDER BY r.priority DESC, r.seq LIMIT 1
       ) best
       WHERE ($6::text[] IS NULL OR n.name = ANY($6))
       ORDER BY best.priority DESC,
                (SELECT count(*) FROM run x WHERE x.namespace = n.name AND x.state = 'running') ASC,
                best.seq ASC`,
      [cap.labels, cap.framework, cap.cpu, cap.memory, cap.disk, cap.namespaces, cap.canShell, cap.canContainer],
    );
    return rows.map((r) => r.namespace);
  }

  /**
   * Claims, in one statement, the best waiting runs for `runners` (all of this capacity), up to
   * one each, and gives the i-th run taken to the i-th runner under its own fresh lease
   * (`FOR UPDATE SKIP LOCKED`). Returns the runs taken with the index of their runner, and how
   * many the statement meant to take (`asked`, 0 when nothing was taken): fewer are taken when
   * other claims locked some of those runs meanwhile. If one of the runners already holds a run,
   * the unique index refuses the whole statement (23505) and nothing is taken.
   *
   * The choice is the one the runners would make claiming one after another (SPEC section 4):
   * the best run by priority, then from the namespace with the fewest running runs, counting the
   * ones this statement takes there (fair share), then the oldest. Within a namespace its t-th
   * best run has the key (priority, running + t, seq), never better than its (t-1)-th, so taking
   * claims one by one is merging sorted queues: the first `k` of all candidates ordered by that
   * key. `heads` reads up to `k` candidates per namespace without locking (one short index range
   * each); `want` says how many each namespace gives, in the order of its first pick; `picked`
   * then locks that many per namespace, skipping rows others hold.
   */
  async claimBest(
    cap: RunnerCapacity,
    runners: Array<{ runnerId: string; messageId: string }>,
  ): Promise<{ taken: Array<{ run: RunRow; index: number }>; asked: number }> {
    const rows = await queryPrepared<RunRow & { claim_n: string; asked: string }>(
      this.db,
      !this.target.embedded,
      'pulse_claim_best',
      CLAIM_BEST_SQL,
      [
        cap.labels,
        cap.framework,
        cap.cpu,
        cap.memory,
        cap.disk,
        runners.length,
        cap.namespaces,
        cap.canShell,
        cap.canContainer,
        runners.map((r) => r.runnerId),
        runners.map((r) => r.messageId),
      ],
    );
    return {
      taken: rows.map(({ claim_n, asked: _, ...run }) => ({ run, index: Number(claim_n) - 1 })),
      asked: rows.length > 0 ? Number(rows[0].asked) : 0,
    };
  }

  /**
   * Takes the best waiting run of a namespace for this runner under a fresh lease, skipping rows
   * another transaction holds (`FOR UPDATE SKIP LOCKED`). Undefined when none is left.
   */
  async claimInNamespace(
    tx: EntityManager,
    cap: RunnerCapacity,
    namespace: string,
    runnerId: string,
    messageId: string,
  ): Promise<RunRow | undefined> {
    const rows = returned<RunRow>(await tx.query(
      `UPDATE run SET state = 'running', runner_id = $7, message_id = $8, attempt = attempt + 1,
              acknowledged = false, dispatched_at = now(), started_at = now(), reason = NULL
       WHERE id = (
         SELECT r.id FROM run r
         WHERE r.namespace = $6 AND r.state = 'waiting' AND ${MATCHES_RUNNER} AND ${executorMatches(9)}
         ORDER BY r.priority DESC, r.seq LIMIT 1
         FOR UPDATE SKIP LOCKED
       )
       RETURNING *`,
      [cap.labels, cap.framework, cap.cpu, cap.memory, cap.disk, namespace, runnerId, messageId, cap.canShell, cap.canContainer],
    ));
    return rows[0];
  }

  /** The run this runner holds now, if any (there is at most one: a unique index says so). */
  async heldBy(tx: EntityManager, runnerId: string): Promise<RunRow | undefined> {
    const rows: RunRow[] = await tx.query(`SELECT * FROM run WHERE runner_id = $1 AND state = 'running'`, [runnerId]);
    return rows[0];
  }

  /** heldBy for many runners in one statement, in the order given. */
  async heldByMany(tx: EntityManager, runnerIds: string[]): Promise<Array<RunRow | undefined>> {
    const rows: RunRow[] = await tx.query(`SELECT * FROM run WHERE runner_id = ANY($1::uuid[]) AND state = 'running'`, [runnerIds]);
    const byRunner = new Map(rows.map((r) => [r.runner_id as string, r]));
    return runnerIds.map((id) => byRunner.get(id));
  }

  /** Marks the runner's listed runs as acknowledged (the runner has them). */
  async acknowledge(tx: EntityManager, runnerId: string, runIds: string[]): Promise<void> {
    await tx.query(
      `UPDATE run SET acknowledged = true
       WHERE runner_id = $1 AND state = 'running' AND NOT acknowledged AND id = ANY($2::uuid[])`,
      [runnerId, runIds],
    );
  }

  /**
   * Gives back the runner's runs (all, or those not in `keep`): an acknowledged run goes back to
   * waiting with its attempt spent, or fails once max_attempts is reached; an offer the runner
   * never acknowledged goes back without using an attempt. Returns the runs released.
   *
   * A requeued run's next runner starts its log at offset 0, so `log_offset` (the bytes the
   * runner sent) starts over, while the bytes already stored stay, followed by one marker line
   * that says the attempt was lost: the next attempt's log is appended after it.
   */
  async release(
    tx: EntityManager,
    runnerId: string,
    reason: string,
    keep: string[] | null,
    which: 'all' | 'acknowledged' | 'offers',
  ): Promise<Array<{ id: string; state: string }>> {
    const result: unknown = await tx.query(
      `WITH lost AS (
         SELECT id, acknowledged, attempt, max_attempts, log_offset, log_stored,
                acknowledged AND attempt >= max_attempts AS spent,
                convert_to(E'\\n[pulse] attempt ' || attempt || ' lost: ' || $2 || E'; the run goes back to the queue\\n', 'UTF8') AS marker
         FROM run
         WHERE runner_id = $1 AND state = 'running'
           AND ($3::uuid[] IS NULL OR NOT (id = ANY($3::uuid[])))
           AND ($4 = 'all' OR ($4 = 'acknowledged') = acknowledged)
         FOR UPDATE
       ), released AS (
         UPDATE run r SET
           state = CASE WHEN l.spent THEN 'failed' ELSE 'waiting' END,
           attempt = CASE WHEN l.acknowledged THEN l.attempt ELSE l.attempt - 1 END,
           reason = CASE WHEN l.spent THEN $2 || ': no attempts left (' || l.attempt || ' of ' || l.max_attempts || ')' ELSE $2 END,
           finished_at = CASE WHEN l.spent THEN now() ELSE NULL END,
           runner_id = CASE WHEN l.spent THEN r.runner_id ELSE NULL END,
           message_id = CASE WHEN l.spent THEN r.message_id ELSE NULL END,
           started_at = CASE WHEN l.spent THEN r.started_at ELSE NULL END,
           log_offset = CASE WHEN l.spent THEN l.log_offset ELSE 0 END,
           log_stored = CASE WHEN NOT l.spent AND l.log_offset > 0 THEN l.log_stored + length(l.marker) ELSE l.log_stored END,
           acknowledged = false, cancel_requested_at = NULL
         FROM lost l
         WHERE r.id = l.id
         RETURNING r.id, r.state
       ), marked AS (
         INSERT INTO run_log_chunk (run_id, pos, data, len)
         SELECT id, log_stored, marker, length(marker) FROM lost WHERE NOT spent AND log_offset > 0
       )
       SELECT id, state FROM released`,
      [runnerId, reason, keep, which],
    );
    return returned(result);
  }

  /** Of the ids a runner says it runs, those it must stop: not its own running run, or canceled. */
  async toCancel(tx: EntityManager, runnerId: string, listed: string[]): Promise<string[]> {
    const rows: Array<{ id: string }> = await tx.query(
      `SELECT l.id FROM unnest($2::uuid[]) AS l(id)
       LEFT JOIN run r ON r.id = l.id AND r.runner_id = $1 AND r.state = 'running'
       WHERE r.id IS NULL OR r.cancel_requested_at IS NOT NULL
       UNION
       SELECT id FROM run WHERE runner_id = $1 AND state = 'running' AND cancel_requested_at IS NOT NULL`,
      [runnerId, listed],
    );
    return rows.map((r) => r.id);
  }
}
