/* eslint-disable @typescript-eslint/no-explicit-any -- a bench harness: untyped JSON bodies, IPC messages and autocannon's untyped API */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { browserLogOpen } from './browser-log';
import { liveFeed } from './feed';
import { JsonClient } from './lib/http';
import { LoadPool } from './lib/load';
import { BenchDatabase, createDatabase, withClient } from './lib/pg';
import { CpuBreakdown, CpuShares, ProcMonitor } from './lib/procstat';
import { ADMIN_TOKEN, BARE_APP_MAIN, ORCHESTRATOR_MAIN, orchestratorEnv, ServerProcess, spawnServer } from './lib/server';
import { chunks, ciLogChunks, percentile, round, sleep, split, wallMs } from './lib/util';
import type { Check, CpuShare, Row, ScenarioResult } from './report-types';
import type { Scale } from './scale';
import { containerRuns } from './containers';
import { cancelLatency, retentionCost } from './ops-scenarios';
import { instancePlacement } from './instances';

export interface Ctx {
  scale: Scale;
  /** When set, the orchestrators of scenarios 1 to 5 write a V8 CPU profile here. */
  profileDir?: string;
  /** Log the real queries' plans (auto_explain) during an extra dispatch pass of scenario 2. */
  explain: boolean;
  progress(msg: string): void;
  results: Map<number, ScenarioResult>;
  /** The bench's load processes, shared by the scenarios: the first `size` of them. */
  load(size: number): Promise<LoadPool>;
}

export interface Runner {
  id: string;
  token: string;
}

const NAMESPACE = 'bench';
const REPO = 'https://example.com/bench.git';

// ---------------------------------------------------------------------------------------------
// helpers

class Scenario {
  readonly rows: Row[] = [];
  readonly checks: Check[] = [];
  readonly cpu: CpuShare[] = [];
  readonly bound: string[] = [];
  readonly raw: Record<string, unknown> = {};
  private readonly cleanups: Array<() => Promise<unknown>> = [];

  constructor(
    readonly id: number,
    readonly name: string,
  ) {}

  get label(): string {
    return `${this.id} ${this.name}`;
  }

  row(r: Omit<Row, 'scenario' | 'ratio' | 'pass'> & { check?: (ours: number, ref: number | null) => boolean }): void {
    const ratio = r.ours !== null && r.reference !== null && r.reference !== 0 ? r.ours / r.reference : null;
    const { check, ...rest } = r;
    this.rows.push({
      scenario: this.label,
      ...rest,
      ours: r.ours === null ? null : round(r.ours, 2),
      reference: r.reference === null ? null : round(r.reference, 2),
      ratio: ratio === null ? null : round(ratio, 3),
      pass: check && r.ours !== null && Number.isFinite(r.ours) ? check(r.ours, r.reference) : null,
    });
  }

  check(name: string, ok: boolean, detail?: string): void {
    this.checks.push({ name, ok, ...(detail !== undefined && { detail }) });
  }

  share(phase: string, s: CpuShares): void {
    this.cpu.push({
      phase,
      seconds: round(s.seconds, 1),
      orchestrator: round(s.orchestrator, 0),
      postgres: round(s.postgres, 0),
      load: round(s.load, 0),
      machine: round(s.machine, 0),
    });
  }

  /** Runs `fn` at the end of the scenario, last registered first. */
  defer(fn: () => Promise<unknown>): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // best effort
      }
    }
  }
}

/** What a CPU breakdown says about the bound of a figure. */
function boundOf(what: string, s: CpuShare, cores: number): string {
  const parts = `orchestrator ${s.orchestrator} %, PostgreSQL ${s.postgres} %, load processes ${s.load} %, whole machine ${s.machine} % of ${cores * 100} %`;
  let verdict: string;
  if (s.machine >= cores * 100 * 0.9) {
    const top = [
      ['the orchestrator', s.orchestrator],
      ['PostgreSQL', s.postgres],
      ['the load generators', s.load],
    ].sort((a, b) => (b[1] as number) - (a[1] as number))[0];
    verdict = `CPU-bound: the ${cores} cores are saturated; the largest share is ${top[0]}`;
  } else if (s.orchestrator >= 85) {
    verdict = "bound by the orchestrator's single event-loop thread (one core busy)";
  } else if (s.postgres >= 85) {
    verdict = 'bound by PostgreSQL';
  } else {
    verdict = 'not CPU-bound: latency (round trips, locks, timers) bounds it';
  }
  return `${what}: ${verdict} (${parts}).`;
}

function tallyErrors(tallies: Array<{ errors: number; networkErrors?: number; firstError?: string; statuses?: Record<string, number> }>): {
  errors: number;
  /** Of `errors`: no HTTP answer at all (timeout, reset, refused). */
  network: number;
  /** Of `errors`: answers with a status outside 2xx. */
  non2xx: number;
  first?: string;
  statuses: Record<string, number>;
} {
  const statuses: Record<string, number> = {};
  let errors = 0;
  let network = 0;
  let first: string | undefined;
  for (const t of tallies) {
    errors += t.errors;
    network += t.networkErrors ?? 0;
    first ??= t.firstError;
    for (const [k, v] of Object.entries(t.statuses ?? {})) statuses[k] = (statuses[k] ?? 0) + v;
  }
  return { errors, network, non2xx: errors - network, first, statuses };
}

async function orchestrator(db: BenchDatabase, extra: Record<string, string> = {}, cpuProf?: { dir: string; name: string }): Promise<ServerProcess> {
  return spawnServer(ORCHESTRATOR_MAIN, orchestratorEnv(db.url, extra), cpuProf ? { cpuProfDir: cpuProf.dir, cpuProfName: cpuProf.name } : {});
}

/** Where a scenario's orchestrator writes its CPU profile, when the run profiles (`--profile`). */
function profileAs(ctx: Ctx, name: string): { dir: string; name: string } | undefined {
  return ctx.profileDir ? { dir: ctx.profileDir, name } : undefined;
}

/**
 * What scenarios 2 and 5 start from: a fresh database, one orchestrator on it (profiled as
 * `profile`), the load processes, `count` registered runners and the bench namespace.
 */
async function oneOrchestrator(ctx: Ctx, s: Scenario, label: string, profile: string | undefined, count: number) {
  const db = await createDatabase(label);
  s.defer(() => db.drop());
  const orch = await orchestrator(db, {}, profile === undefined ? undefined : profileAs(ctx, profile));
  s.defer(() => orch.stop());
  const pool = await ctx.load(ctx.scale.loadProcs);
  const http = new JsonClient(orch.url);
  s.defer(async () => http.close());
  const runners = await registerRunners(pool, orch.url, count, s);
  await putNamespace(http);
  return { db, orch, pool, http, runners };
}

async function registerRunners(pool: LoadPool, url: string, count: number, s: Scenario): Promise<Runner[]> {
  const counts = split(count, pool.size);
  const parts = await Promise.all(counts.map((n, i) => (n > 0 ? pool.run(i, 'register', { url, count: n }) : Promise.resolve({ runners: [], tally: { errors: 0 } }))));
  const runners = parts.flatMap((p) => p.runners as Runner[]);
  const t = tallyErrors(parts.map((p) => p.tally));
  s.check('every runner registered', runners.length === count && t.errors === 0, `${runners.length} of ${count}, ${t.errors} errors${t.first ? ` (${t.first})` : ''}`);
  return runners;
}

async function putNamespace(http: JsonClient, namespace = NAMESPACE): Promise<void> {
  const res = await http.request('PUT', '/api/namespaces', { namespace_name: namespace, repositories: [REPO] }, ADMIN_TOKEN);
  if (res.status >= 300) throw new Error(`PUT /api/namespaces answered ${res.status}: ${JSON.stringify(res.body)}`);
}

async function submit(http: JsonClient, body: Record<string, unknown>): Promise<{ ms: number; batch: string; runs: string[] }> {
  const t = wallMs();
  const res = await http.post('/api/runs', { namespace: NAMESPACE, script: 'true', ...body }, ADMIN_TOKEN);
  const ms = wallMs() - t;
  if (res.status !== 201) throw new Error(`POST /api/runs answered ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`);
  return { ms, batch: res.body.batch_id, runs: res.body.runs };
}

async function runStates(db: BenchDatabase): Promise<Record<string, number>> {
  return withClient(db.url, async (c) => {
    const rows = (await c.query(`SELECT state, count(*)::int AS n FROM run GROUP BY state`)).rows as Array<{ state: string; n: number }>;
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  });
}

function duplicates(ids: Array<string | number>): number {
  return ids.length - new Set(ids).size;
}

// ---------------------------------------------------------------------------------------------
// 1. idle heartbeats

/**
 * One measurement: connections open in groups over a ramp, a warm-up, then `seconds` counted.
 * Every load process counts the same wall-clock window.
 */
async function autocannonRound(pool: LoadPool, url: string, runners: Runner[], warmupSeconds: number, seconds: number): Promise<any> {
  const group = 50;
  const staggerMs = 50;
  const sets = chunks(runners, pool.size);
  const groupsPerProc = Math.ceil(Math.max(...sets.map((s) => s.length)) / group);
  const startAt = wallMs() + 300;
  const rampMs = groupsPerProc * staggerMs;
  const measureFrom = startAt + rampMs + warmupSeconds * 1000 + 500;
  const measureTo = measureFrom + seconds * 1000;
  const parts = await pool.all('autocannon', (i) => ({ url, runners: sets[i], startAt, staggerMs, group, measureFrom, measureTo }));
  const latencies: number[] = [];
  for (const p of parts) for (const v of p.latencies as Float64Array) latencies.push(v);
  const requests = parts.reduce((a, p) => a + p.requests, 0);
  const t = tallyErrors(parts.map((p) => p.tally));
  const whole = tallyErrors(parts.map((p) => p.whole));
  return {
    rps: requests / seconds,
    requests,
    seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors: t.errors,
    firstError: t.first,
    statuses: t.statuses,
    errorsIncludingRamp: whole.errors,
    non2xxIncludingRamp: whole.non2xx,
    networkIncludingRamp: whole.network,
    firstErrorIncludingRamp: whole.first,
    badBodies: parts.reduce((a, p) => a + p.badBodies, 0),
  };
}

export async function idleHeartbeats(ctx: Ctx, s: Scenario): Promise<void> {
  const { runners: count, seconds, warmupSeconds } = ctx.scale.idle;
  try {
    const db = await createDatabase('s1');
    s.defer(() => db.drop());
    // Both servers start together (an idle server takes no CPU); the bare one is used second.
    const [orch, bare] = await Promise.all([
      orchestrator(db, {}, profileAs(ctx, 's1-idle-heartbeats.cpuprofile')),
      spawnServer(BARE_APP_MAIN, { HOST: '127.0.0.1', PORT: '0' }),
    ]);
    s.defer(() => orch.stop());
    s.defer(() => bare.stop());
    const pool = await ctx.load(ctx.scale.loadProcs);
    ctx.progress(`registering ${count} runners`);
    const runners = await registerRunners(pool, orch.url, count, s);

    ctx.progress(`${count} runners heartbeating: ramp, ${warmupSeconds} s warm-up, ${seconds} s counted (orchestrator)`);
    const cpu = new CpuBreakdown([orch.pid], pool.pids);
    const measuring = sleep(0).then(async () => {
      // The CPU shares cover the counted window only.
      const rampMs = Math.ceil(count / pool.size / 50) * 50 + 800 + warmupSeconds * 1000;
      await sleep(rampMs);
      cpu.start();
      await sleep(seconds * 1000);
      return cpu.stop();
    });
    const ours = await autocannonRound(pool, orch.url, runners, warmupSeconds, seconds);
    s.share('orchestrator', await measuring);
    await orch.stop();

    ctx.progress(`${count} connections, same ramp and window (bare NestJS+Fastify reference)`);
    const cpuRef = new CpuBreakdown([bare.pid], pool.pids);
    const measuringRef = sleep(0).then(async () => {
      await sleep(Math.ceil(count / pool.size / 50) * 50 + 800 + warmupSeconds * 1000);
      cpuRef.start();
      await sleep(seconds * 1000);
      return cpuRef.stop();
    });
    const ref = await autocannonRound(pool, bare.url, runners, warmupSeconds, seconds);
    s.share('bare reference', await measuringRef);
    await bare.stop();

    const refName = 'bare Nest+Fastify';
    s.row({ metric: 'heartbeats/s', unit: 'req/s', ours: ours.rps, reference: ref.rps, referenceName: refName, target: '≥ 0.5× ref', check: (o, r) => r !== null && o >= 0.5 * r });
    s.row({ metric: 'latency p50', unit: 'ms', ours: ours.p50, reference: ref.p50, referenceName: refName, target: '—' });
    s.row({ metric: 'latency p99', unit: 'ms', ours: ours.p99, reference: ref.p99, referenceName: refName, target: '—' });
    s.row({ metric: 'orchestrator CPU', unit: '% of a core', ours: s.cpu[0].orchestrator, reference: s.cpu[1].orchestrator, referenceName: refName, target: '—' });
    s.row({ metric: 'requests without answer (timeout > 10 s, reset)', unit: 'requests', ours: ours.networkIncludingRamp, reference: ref.networkIncludingRamp, referenceName: refName, target: '0', check: (o) => o === 0 });
    s.check(
      'no error responses (orchestrator)',
      ours.non2xxIncludingRamp === 0,
      `${ours.requests} answered in the window; over the whole run ${ours.non2xxIncludingRamp} non-2xx answers, ${ours.networkIncludingRamp} requests without answer${ours.firstErrorIncludingRamp ? ` (${ours.firstErrorIncludingRamp})` : ''}`,
    );
    s.check('heartbeats were answered', ours.requests > 0 && ref.requests > 0, `${ours.requests} answered (reference ${ref.requests})`);
    s.check('every answer is an empty heartbeat', ours.badBodies === 0, `${ours.badBodies} answers carried a run or cancel`);
    s.check('no error responses (reference)', ref.non2xxIncludingRamp === 0, `${ref.requests} answered; ${ref.non2xxIncludingRamp} non-2xx, ${ref.networkIncludingRamp} without answer${ref.firstErrorIncludingRamp ? ` (${ref.firstErrorIncludingRamp})` : ''}`);
    s.bound.push(boundOf('Orchestrator heartbeats', s.cpu[0], cpuCores()));
    s.bound.push(boundOf('Bare reference', s.cpu[1], cpuCores()));
    s.raw.ours = { ...ours };
    s.raw.reference = { ...ref };
    s.raw.runners = count;
    s.raw.seconds = seconds;
  } finally {
    await s.cleanup();
  }
}

/** The submission target is for 20,000 runs in one request; smaller batches are only reported. */
function submitTarget(runs: number): { target: string; check?: (o: number) => boolean } {
  return runs >= 20000 ? { target: '≤ 2 s', check: (o) => o <= 2 } : { target: '— (≤ 2 s at 20k)' };
}

function cpuCores(): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:os') as typeof import('node:os')).cpus().length;
}

// ---------------------------------------------------------------------------------------------
// 2. dispatch cycle (and 6. scale-out)

interface DrainResult {
  rate: number;
  seconds: number;
  received: number;
  duplicates: number;
  errors: number;
  firstError?: string;
  heartbeats: number;
  statuses: Record<string, number>;
}

/**
 * Runners split over the pool; process i drives orchestrator urls[i % urls.length]. With
 * `maxSeconds`, runners stop taking runs after that long (a slow orchestrator is measured on what
 * it drained by then, so the bench keeps its time budget).
 */
async function drain(pool: LoadPool, urls: string[], runners: Runner[], maxSeconds = Infinity): Promise<DrainResult> {
  const deadline = Number.isFinite(maxSeconds) ? wallMs() + maxSeconds * 1000 : undefined;
  const parts = await pool.all('dispatch', (i) => ({ url: urls[i % urls.length], runners: chunks(runners, pool.size)[i], ...(deadline && { deadline }) }));
  const ids = parts.flatMap((p) => p.received as string[]);
  const first = Math.min(...parts.map((p) => p.firstAt));
  const last = Math.max(...parts.map((p) => p.lastAt));
  const t = tallyErrors(parts.map((p) => p.tally));
  const seconds = (last - first) / 1000;
  return {
    rate: ids.length / seconds,
    seconds,
    received: ids.length,
    duplicates: duplicates(ids),
    errors: t.errors,
    firstError: t.first,
    heartbeats: parts.reduce((a, p) => a + p.heartbeats, 0),
    statuses: t.statuses,
  };
}

/** No run handed out twice; every run received finished, and only a capped drain leaves runs waiting. */
function checkDrain(s: Scenario, d: DrainResult, states: Record<string, number>, runs: number, maxSeconds: number, prefix = ''): void {
  const capped = d.received < runs;
  s.check(`${prefix}no run handed out twice`, d.duplicates === 0, `${d.received} received, ${d.duplicates} twice`);
  s.check(
    `${prefix}${capped ? `every run received finished; the rest still waits (drain capped at ${maxSeconds} s)` : 'every run finished'}`,
    (states.finished ?? 0) === d.received - d.duplicates && (states.finished ?? 0) + (states.waiting ?? 0) === runs,
    JSON.stringify(states),
  );
  if (capped) s.raw.cappedAt = { seconds: maxSeconds, drained: d.received, of: runs };
}

async function pgReference(ctx: Ctx, s: Scenario, db: BenchDatabase, pool: LoadPool, jobs: number, workers: number): Promise<{ rate: number; insertMs: number }> {
  await withClient(db.url, async (c) => {
    await c.query(`DROP TABLE IF EXISTS bench_job`);
    await c.query(`CREATE TABLE bench_job (id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'queued', worker int,
                   payload jsonb, created_at timestamptz NOT NULL DEFAULT now(), claimed_at timestamptz, done_at timestamptz)`);
    // The partial index on queued rows: without it the claim wades through finished rows.
    await c.query(`CREATE INDEX bench_job_queued ON bench_job (id) WHERE state = 'queued'`);
  });
  const insertMs = await withClient(db.url, async (c) => {
    const t = wallMs();
    await c.query(`INSERT INTO bench_job (payload) SELECT jsonb_build_object('n', g) FROM generate_series(1, $1) g`, [jobs]);
    return wallMs() - t;
  });
  await withClient(db.url, (c) => c.query('ANALYZE bench_job'));
  ctx.progress(`plain pg SKIP LOCKED loop, ${workers} workers, ${jobs} jobs`);
  const cpu = new CpuBreakdown([], pool.pids).start();
  const parts = await pool.all('pgloop', (i) => ({ dbUrl: db.url, workers: split(workers, pool.size)[i] }));
  s.share('plain pg loop', cpu.stop());
  const ids = parts.flatMap((p) => p.received as number[]);
  const seconds = (Math.max(...parts.map((p) => p.lastAt)) - Math.min(...parts.map((p) => p.firstAt))) / 1000;
  const done = await withClient(db.url, async (c) => Number((await c.query(`SELECT count(*) FROM bench_job WHERE state = 'done'`)).rows[0].count));
  s.check('plain pg: every job done once', ids.length === jobs && duplicates(ids) === 0 && done === jobs, `${ids.length} claimed, ${duplicates(ids)} twice, ${done} done`);
  return { rate: ids.length / seconds, insertMs };
}

async function graphileReference(ctx: Ctx, s: Scenario, db: BenchDatabase, pool: LoadPool, jobs: number, concurrency: number): Promise<{ rate: number; enqueueMs: number; endToEnd: number }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const gw = require('graphile-worker') as typeof import('graphile-worker');
  const logger = new gw.Logger(() => () => undefined);
  await gw.runMigrations({ connectionString: db.url, logger });
  const utils = await gw.makeWorkerUtils({ connectionString: db.url, logger });
  let enqueueMs: number;
  try {
    const specs = Array.from({ length: jobs }, (_, n) => ({ identifier: 'bench', payload: { n } }));
    const t = wallMs();
    await utils.addJobs(specs);
    enqueueMs = wallMs() - t;
  } finally {
    await utils.release();
  }
  ctx.progress(`graphile-worker 0.17.3, concurrency ${concurrency}, ${jobs} jobs`);
  const cpu = new CpuBreakdown([], pool.pids).start();
  const running = pool.all('graphile', (i) => ({ dbUrl: db.url, concurrency: split(concurrency, pool.size)[i] }));
  const deadline = Date.now() + 600_000;
  for (;;) {
    const left = await withClient(db.url, async (c) => Number((await c.query(`SELECT count(*) FROM graphile_worker.jobs`)).rows[0].count));
    if (left === 0 || Date.now() > deadline) break;
    await sleep(50);
  }
  pool.stopTasks();
  const parts = await running;
  pool.reset();
  s.share('graphile-worker', cpu.stop());
  const ids = parts.flatMap((p) => p.received as string[]);
  const failures = parts.reduce((a, p) => a + p.failures, 0);
  const seconds = (Math.max(...parts.map((p) => p.lastAt)) - Math.min(...parts.map((p) => p.firstAt))) / 1000;
  s.check('graphile-worker: every job run once', ids.length === jobs && duplicates(ids) === 0 && failures === 0, `${ids.length} run, ${duplicates(ids)} twice, ${failures} failed`);
  return { rate: ids.length / seconds, enqueueMs, endToEnd: jobs / ((enqueueMs + seconds * 1000) / 1000) };
}

/** Plans of the real queries (auto_explain), while the orchestrator dispatches a batch. */
async function explainPass(ctx: Ctx, s: Scenario, db: BenchDatabase, pool: LoadPool, runners: Runner[]): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { explainFromLog } = require('./profile') as typeof import('./profile');
  const runs = Math.min(2000, ctx.scale.dispatch.runs);
  ctx.progress(`auto_explain pass: ${runs} more runs on top of the ${ctx.scale.dispatch.runs} finished ones`);
  await withClient(db.url, async (c) => {
    await c.query(`ALTER DATABASE ${db.name} SET session_preload_libraries = 'auto_explain'`);
    await c.query(`ALTER DATABASE ${db.name} SET auto_explain.log_min_duration = 0`);
    await c.query(`ALTER DATABASE ${db.name} SET auto_explain.log_analyze = on`);
    await c.query(`ALTER DATABASE ${db.name} SET auto_explain.log_buffers = on`);
    await c.query(`ALTER DATABASE ${db.name} SET auto_explain.log_timing = on`);
    await c.query(`ALTER DATABASE ${db.name} SET auto_explain.log_nested_statements = on`);
  });
  const orch = await orchestrator(db);
  try {
    const http = new JsonClient(orch.url);
    const logFile = process.env.BENCH_PG_LOG || '/var/log/postgresql/postgresql-15-main.log';
    const { statSync } = await import('node:fs');
    const from = statSync(logFile).size;
    await submit(http, { repos: Array.from({ length: runs }, () => REPO) });
    const d = await drain(pool, [orch.url], runners, 30);
    http.close();
    await orch.stop();
    await sleep(500);
    s.raw.explain = { runs, drained: d.received, ...explainFromLog(logFile, from, db.name) };
  } finally {
    await orch.stop();
    await withClient(db.url, (c) => c.query(`ALTER DATABASE ${db.name} RESET ALL`)).catch(() => undefined);
  }
}

/**
 * One drain of ours: a fresh database and orchestrator, `runs` runs submitted in one request,
 * `count` simulated runners taking and finishing them until the queue is empty.
 */
async function ourDrain(ctx: Ctx, s: Scenario, label: string, phase: string, profile: string | undefined) {
  const { runs, runners: count, maxSeconds } = ctx.scale.dispatch;
  const { db, orch, pool, http, runners } = await oneOrchestrator(ctx, s, label, profile, count);
  ctx.progress(`${phase}: submitting ${runs} runs in one request (jobs[])`);
  const sub = await submit(http, { jobs: Array.from({ length: runs }, () => ({ repo: REPO })) });
  s.check(`${phase}: the submission created every run`, sub.runs.length === runs, `${sub.runs.length} of ${runs}`);
  ctx.progress(`${phase}: ${count} runners draining ${runs} runs (orchestrator)`);
  const cpu = new CpuBreakdown([orch.pid], pool.pids).start();
  const drained = await drain(pool, [orch.url], runners, maxSeconds);
  s.share(phase, cpu.stop());
  const states = await runStates(db);
  await orch.stop();
  checkDrain(s, drained, states, runs, maxSeconds, `${phase}: `);
  s.check(`${phase}: no error responses`, drained.errors === 0, `${drained.heartbeats} heartbeats, ${drained.errors} errors${drained.firstError ? ` (${drained.firstError})` : ''}`);
  return { db, pool, runners, drained, submitMs: sub.ms };
}

export async function dispatchCycle(ctx: Ctx, s: Scenario): Promise<void> {
  const { runs, runners: count } = ctx.scale.dispatch;
  try {
    // Two drains of ours around the two of the plain pg loop (A B B A): on a VM whose speed moves
    // from minute to minute, each side is measured twice and the better figure of each compared,
    // as the reference's figure is already the better of its two concurrencies.
    const first = await ourDrain(ctx, s, 's2', 'orchestrator', 's2-dispatch-cycle.cpuprofile');
    const { db, pool, runners } = first;

    if (ctx.explain) {
      try {
        await explainPass(ctx, s, db, pool, runners);
      } catch (err) {
        s.raw.explainError = (err as Error).message;
      }
    }

    // The plain pg loop at 16 and at 64 workers, side by side in this run: the target is 0.8× the
    // faster of the two (which one wins depends on the machine's load on the day). --tiny uses 8
    // and 16, to stay within a shared server's connection limit.
    const pgAt = new Map<number, { rate: number; insertMs: number }>();
    for (const workers of ctx.scale.mode === 'tiny' ? [8, 16] : [16, 64]) pgAt.set(workers, await pgReference(ctx, s, db, pool, runs, workers));
    const pg = [...pgAt.values()].reduce((a, b) => (b.rate > a.rate ? b : a));
    const best = [...pgAt.entries()].find(([, v]) => v === pg)?.[0] ?? count;

    const second = await ourDrain(ctx, s, 's2b', 'orchestrator, second drain', undefined);
    const drains = [first.drained, second.drained];
    const ours = drains.reduce((a, b) => (b.rate > a.rate ? b : a));
    const gw = await graphileReference(ctx, s, db, pool, runs, count);

    s.row({ metric: 'runs/s drained (vs the faster plain pg)', unit: 'runs/s', ours: ours.rate, reference: pg.rate, referenceName: `plain pg SKIP LOCKED, ${best} workers`, target: '≥ 0.8× ref', check: (o, r) => r !== null && o >= 0.8 * r });
    s.row({ metric: 'runs/s drained, the slower drain of ours', unit: 'runs/s', ours: Math.min(...drains.map((d) => d.rate)), reference: pg.rate, referenceName: `plain pg SKIP LOCKED, ${best} workers`, target: '—' });
    for (const [workers, ref] of pgAt) {
      s.row({ metric: `runs/s drained (vs plain pg, ${workers} workers)`, unit: 'runs/s', ours: ours.rate, reference: ref.rate, referenceName: `plain pg SKIP LOCKED, ${workers} workers`, target: '—' });
    }
    s.row({ metric: 'runs/s drained (vs graphile)', unit: 'runs/s', ours: ours.rate, reference: gw.rate, referenceName: `graphile-worker 0.17.3, concurrency ${count}`, target: '≥ 1.5× ref', check: (o, r) => r !== null && o >= 1.5 * r });
    s.row({ metric: `submit ${runs} runs (one request)`, unit: 's', ours: first.submitMs / 1000, reference: gw.enqueueMs / 1000, referenceName: 'graphile addJobs', ...submitTarget(runs) });
    s.row({ metric: `runs drained${ours.received < runs ? ` (capped at ${ctx.scale.dispatch.maxSeconds} s)` : ''}`, unit: 'runs', ours: ours.received, reference: runs, referenceName: 'submitted', target: '—' });
    s.row({ metric: 'orchestrator CPU while draining', unit: '% of a core', ours: s.cpu[0].orchestrator, reference: null, referenceName: '', target: '—' });
    s.bound.push(boundOf('Orchestrator drain', s.cpu[0], cpuCores()));
    s.bound.push(boundOf('Plain pg loop', s.cpu.find((c) => c.phase === 'plain pg loop') as CpuShare, cpuCores()));
    s.bound.push(boundOf('graphile-worker', s.cpu.find((c) => c.phase === 'graphile-worker') as CpuShare, cpuCores()));
    s.raw.ours = { ...ours, submitMs: first.submitMs };
    s.raw.drains = drains;
    s.raw.plainPg = pg;
    s.raw.plainPgByWorkers = Object.fromEntries(pgAt);
    s.raw.graphile = gw;
    s.raw.runs = runs;
    s.raw.runners = count;
  } finally {
    await s.cleanup();
  }
}

export async function scaleOut(ctx: Ctx, s: Scenario): Promise<void> {
  const { runs, runners: count } = ctx.scale.dispatch;
  try {
    const db = await createDatabase('s6');
    s.defer(() => db.drop());
    const a = await orchestrator(db);
    s.defer(() => a.stop());
    // The second process starts once the first has migrated the database.
    const b = await orchestrator(db);
    s.defer(() => b.stop());
    const pool = await ctx.load(Math.max(2, ctx.scale.loadProcs));
    const http = new JsonClient(a.url);
    s.defer(async () => http.close());
    const runners = await registerRunners(pool, a.url, count, s);
    await putNamespace(http);
    ctx.progress(`submitting ${runs} runs in one request (repos[])`);
    const sub = await submit(http, { repos: Array.from({ length: runs }, () => REPO) });
    ctx.progress(`${count} runners draining ${runs} runs over two orchestrators`);
    const cpu = new CpuBreakdown([a.pid, b.pid], pool.pids).start();
    const two = await drain(pool, [a.url, b.url], runners, ctx.scale.dispatch.maxSeconds);
    s.share('two orchestrators', cpu.stop());
    const states = await runStates(db);
    checkDrain(s, two, states, runs, ctx.scale.dispatch.maxSeconds);
    s.check('no error responses', two.errors === 0, `${two.heartbeats} heartbeats, ${two.errors} errors${two.firstError ? ` (${two.firstError})` : ''}`);
    const one = ctx.results.get(2)?.raw.ours as DrainResult | undefined;
    s.row({ metric: 'runs/s drained, 2 processes', unit: 'runs/s', ours: two.rate, reference: one?.rate ?? null, referenceName: 'scenario 2, one process', target: '—' });
    s.row({ metric: `runs drained${two.received < runs ? ` (capped at ${ctx.scale.dispatch.maxSeconds} s)` : ''}`, unit: 'runs', ours: two.received, reference: runs, referenceName: 'submitted', target: '—' });
    s.row({ metric: `submit ${runs} runs (repos[])`, unit: 's', ours: sub.ms / 1000, reference: null, referenceName: '', ...submitTarget(runs) });
    s.row({ metric: 'CPU of both orchestrators', unit: '% of a core', ours: s.cpu[0].orchestrator, reference: ctx.results.get(2)?.cpu[0]?.orchestrator ?? null, referenceName: 'scenario 2, one process', target: '—' });
    s.bound.push(boundOf('Two orchestrators', s.cpu[0], cpuCores()));
    s.raw.two = two;
    s.raw.submitMs = sub.ms;
  } finally {
    await s.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. pickup latency

export async function pickupLatency(ctx: Ctx, s: Scenario): Promise<void> {
  const { pollers, runs, everyMs, wait } = ctx.scale.pickup;
  try {
    const db = await createDatabase('s3');
    s.defer(() => db.drop());
    const orch = await orchestrator(db, {}, profileAs(ctx, 's3-pickup-latency.cpuprofile'));
    s.defer(() => orch.stop());
    // The runners in loadProcs processes, the submitter alone in the last one.
    const pool = await ctx.load(ctx.scale.loadProcs + 1);
    const http = new JsonClient(orch.url);
    s.defer(async () => http.close());
    const runnerProcs = ctx.scale.loadProcs;
    const counts = split(pollers, runnerProcs);
    const registered = await Promise.all(counts.map((n, i) => pool.run(i, 'register', { url: orch.url, count: n })));
    const runnerSets = registered.map((p) => p.runners as Runner[]);
    s.check('every runner registered', runnerSets.flat().length === pollers);
    await putNamespace(http);

    ctx.progress(`${pollers} runners long-polling; ${runs} runs submitted one every ${everyMs} ms`);
    const polling = Promise.all(runnerSets.map((set, i) => pool.run(i, 'longpoll', { url: orch.url, runners: set, wait })));
    await sleep(ctx.scale.mode === 'tiny' ? 500 : 1500);
    const cpu = new CpuBreakdown([orch.pid], pool.pids).start();
    await loopDelay(http); // resets the orchestrator's event-loop delay figures
    const submitted = await pool.run(runnerProcs, 'submitter', { url: orch.url, count: runs, everyMs, namespace: NAMESPACE, repo: REPO });
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const st = await runStates(db);
      if ((st.finished ?? 0) >= runs) break;
      await sleep(50);
    }
    const lag = await loopDelay(http);
    s.share('orchestrator', cpu.stop());
    pool.stopTasks();
    const polled = await polling;
    pool.reset();
    const states = await runStates(db);
    await orch.stop();

    const sentById = new Map<string, { sentAt: number; respAt: number }>((submitted.sent as any[]).map((x) => [x.id, x]));
    const received = polled.flatMap((p) => p.received as Array<{ id: string; at: number }>);
    const fromResponse: number[] = [];
    const fromRequest: number[] = [];
    let early = 0;
    for (const r of received) {
      const sent = sentById.get(r.id);
      if (!sent) continue;
      const d = r.at - sent.respAt;
      if (d < 0) early++;
      fromResponse.push(Math.max(0, d));
      fromRequest.push(r.at - sent.sentAt);
    }
    const t = tallyErrors([...polled.map((p) => p.tally), submitted.tally]);
    s.check('every run received exactly once', received.length === runs && duplicates(received.map((r) => r.id)) === 0, `${received.length} received of ${runs}, ${duplicates(received.map((r) => r.id))} twice`);
    s.check('every run finished', states.finished === runs, JSON.stringify(states));
    s.check('no error responses', t.errors === 0, `${t.errors} errors${t.first ? ` (${t.first})` : ''}; statuses ${JSON.stringify(t.statuses)}`);

    ctx.progress(`reference: PostgreSQL LISTEN/NOTIFY, one insert+notify every ${everyMs} ms`);
    await withClient(db.url, (c) => c.query(`CREATE TABLE IF NOT EXISTS bench_job (id bigserial PRIMARY KEY, state text NOT NULL DEFAULT 'queued')`));
    const listening = pool.progress('listening', 1);
    const listener = pool.run(0, 'notifyListen', { dbUrl: db.url });
    await listening;
    const notified = await pool.run(runnerProcs, 'notifySubmit', { dbUrl: db.url, count: runs, everyMs });
    await sleep(300);
    pool.stopTasks();
    const heard = await listener;
    pool.reset();
    const heardAt = new Map<string, number>((heard.received as any[]).map((x) => [x.id, x.at]));
    const refLat: number[] = [];
    for (const x of notified.sent as any[]) {
      const at = heardAt.get(x.id);
      if (at !== undefined) refLat.push(Math.max(0, at - x.respAt));
    }
    s.check('reference: every notification heard', refLat.length === runs, `${refLat.length} of ${runs}`);

    const refName = 'pg LISTEN/NOTIFY (commit → listener)';
    s.row({ metric: 'pickup p50 (from response)', unit: 'ms', ours: percentile(fromResponse, 50), reference: percentile(refLat, 50), referenceName: refName, target: '—' });
    s.row({ metric: 'pickup p99 (from response)', unit: 'ms', ours: percentile(fromResponse, 99), reference: percentile(refLat, 99), referenceName: refName, target: '≤ 50 ms', check: (o) => o <= 50 });
    s.row({ metric: 'pickup max (from response)', unit: 'ms', ours: Math.max(...fromResponse), reference: Math.max(...refLat), referenceName: refName, target: '—' });
    s.row({ metric: 'pickup p99 (from request)', unit: 'ms', ours: percentile(fromRequest, 99), reference: null, referenceName: '', target: '—' });
    s.row({ metric: 'orchestrator event-loop delay p99', unit: 'ms', ours: lag.p99, reference: null, referenceName: '', target: '—' });
    s.row({ metric: 'orchestrator event-loop delay max', unit: 'ms', ours: lag.max, reference: null, referenceName: '', target: '—' });
    s.bound.push(boundOf('Pickup', s.cpu[0], cpuCores()));
    s.raw.ours = {
      p50: percentile(fromResponse, 50),
      p99: percentile(fromResponse, 99),
      max: Math.max(...fromResponse),
      fromRequestP50: percentile(fromRequest, 50),
      fromRequestP99: percentile(fromRequest, 99),
      receivedBeforeResponse: early,
      received: received.length,
      statuses: t.statuses,
    };
    s.raw.reference = { p50: percentile(refLat, 50), p99: percentile(refLat, 99), max: Math.max(...refLat), heard: refLat.length };
  } finally {
    await s.cleanup();
  }
}

/** The orchestrator's event-loop delay (ms) since the previous call, from GET /metrics. */
async function loopDelay(http: JsonClient): Promise<{ p99: number; max: number }> {
  const res = await http.request('GET', '/metrics');
  const text = typeof res.body === 'string' ? res.body : '';
  const q = (quantile: string): number =>
    1000 * Number(new RegExp(`^pulse_event_loop_delay_seconds\\{quantile="${quantile}"\\} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
  return { p99: q('0.99'), max: q('1') };
}

// ---------------------------------------------------------------------------------------------
// 4. fleet

async function holdFleet(ctx: Ctx, s: Scenario, phase: string, server: ServerProcess, pool: LoadPool, runnerSets: Runner[][]): Promise<any> {
  const { wait, rampSeconds, settleSeconds, windowSeconds } = ctx.scale.fleet;
  const started = pool.progress('fleet-started');
  const running = pool.all('fleet', (i) => ({ url: server.url, runners: runnerSets[i], wait, rampMs: rampSeconds * 1000 }));
  await started;
  await sleep(settleSeconds * 1000);
  const mon = new ProcMonitor([server.pid], 250).start();
  const cpu = new CpuBreakdown([server.pid], pool.pids).start();
  const from = wallMs();
  await sleep(windowSeconds * 1000);
  const to = wallMs();
  const win = mon.stop();
  s.share(phase, cpu.stop());
  pool.stopTasks();
  const parts = await running;
  pool.reset();
  const t = tallyErrors(parts.map((p) => p.tally));
  return {
    rssMeanMiB: win.rssMeanBytes / 2 ** 20,
    rssMaxMiB: win.rssMaxBytes / 2 ** 20,
    hwmMiB: win.hwmBytes / 2 ** 20,
    cpuPercent: win.cpuPercent,
    heartbeats: parts.reduce((a, p) => a + (p.answeredAt as Float64Array).filter((x) => x >= from && x <= to).length, 0),
    heartbeatsWholeRun: parts.reduce((a, p) => a + p.heartbeats, 0),
    runsSeen: parts.reduce((a, p) => a + p.runsSeen, 0),
    slowestMs: Math.max(...parts.map((p) => p.slowestMs)),
    errors: t.errors,
    network: t.network,
    non2xx: t.non2xx,
    firstError: t.first,
    statuses: t.statuses,
  };
}

export async function fleet(ctx: Ctx, s: Scenario): Promise<void> {
  const { runners: count, wait, procs } = ctx.scale.fleet;
  try {
    const db = await createDatabase('s4');
    s.defer(() => db.drop());
    const [orch, bare] = await Promise.all([
      orchestrator(
        db,
        { HEARTBEAT_INTERVAL: String(wait), LONG_POLL_MAX: String(wait), RUNNER_DEAD_AFTER: String(wait * 6) },
        profileAs(ctx, 's4-fleet.cpuprofile'),
      ),
      spawnServer(BARE_APP_MAIN, { HOST: '127.0.0.1', PORT: '0', LONG_POLL_MAX: String(wait) }),
    ]);
    s.defer(() => orch.stop());
    s.defer(() => bare.stop());
    const pool = await ctx.load(procs);
    ctx.progress(`registering ${count} runners`);
    const runners = await registerRunners(pool, orch.url, count, s);
    const sets = chunks(runners, pool.size);
    ctx.progress(`${count} runners long-polling (wait ${wait} s) on one orchestrator`);
    const ours = await holdFleet(ctx, s, 'orchestrator', orch, pool, sets);
    await orch.stop();
    s.check('no error responses', ours.non2xx === 0, `${ours.heartbeats} heartbeats answered in the window; statuses ${JSON.stringify(ours.statuses)}`);
    s.check('no run appeared (none was submitted)', ours.runsSeen === 0);

    ctx.progress(`${count} long polls on the bare reference app`);
    const ref = await holdFleet(ctx, s, 'bare reference', bare, pool, sets);
    await bare.stop();
    s.check('reference: no error responses', ref.non2xx === 0, `statuses ${JSON.stringify(ref.statuses)}`);

    const refName = 'bare Nest+Fastify holding the same polls';
    s.row({ metric: `RSS with ${count} long polls`, unit: 'MiB', ours: ours.rssMaxMiB, reference: ref.rssMaxMiB, referenceName: refName, target: '≤ 1024 MiB', check: (o) => o <= 1024 });
    s.row({ metric: 'CPU at steady state', unit: '% of a core', ours: ours.cpuPercent, reference: ref.cpuPercent, referenceName: refName, target: '—' });
    s.row({ metric: 'long polls answered/s', unit: 'req/s', ours: ours.heartbeats / ctx.scale.fleet.windowSeconds, reference: ref.heartbeats / ctx.scale.fleet.windowSeconds, referenceName: refName, target: '—' });
    s.row({ metric: 'polls without answer (reset, timeout)', unit: 'requests', ours: ours.network, reference: ref.network, referenceName: refName, target: '0', check: (o) => o === 0 });
    s.bound.push(boundOf('Fleet steady state', s.cpu[0], cpuCores()));
    s.raw.ours = ours;
    s.raw.reference = ref;
    s.raw.runners = count;
  } finally {
    await s.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// 5. log ingest

export async function logIngest(ctx: Ctx, s: Scenario): Promise<void> {
  const { runners: count, chunkBytes, seconds } = ctx.scale.logs;
  try {
    const { db, orch, pool, http, runners } = await oneOrchestrator(ctx, s, 's5', 's5-log-ingest.cpuprofile', count);
    await submit(http, { repos: Array.from({ length: count }, () => REPO) });
    ctx.progress(`${count} runners streaming ${chunkBytes / 1024} KiB chunks for ${seconds} s`);
    const cpu = new CpuBreakdown([orch.pid], pool.pids).start();
    const parts = await pool.all('logs', (i) => ({ url: orch.url, runners: chunks(runners, pool.size)[i], chunkBytes, seconds }));
    s.share('orchestrator', cpu.stop());
    const bytes = parts.reduce((a, p) => a + p.bytes, 0);
    const span = (Math.max(...parts.map((p) => p.lastAt)) - Math.min(...parts.map((p) => p.firstAt))) / 1000;
    const t = tallyErrors(parts.map((p) => p.tally));
    let stored = NaN;
    let onDisk = NaN;
    try {
      const row = await withClient(db.url, async (c) =>
        (await c.query(`SELECT coalesce(sum(len), 0) AS n, coalesce(sum(length(data)), 0) AS packed FROM run_log_chunk`)).rows[0],
      );
      stored = Number(row.n);
      onDisk = Number(row.packed);
    } catch {
      // the schema changed: the check says so
    }
    // Byte for byte: the log the API serves of a few runs against what their runners sent.
    const sample = parts.flatMap((p) => Object.entries(p.digests as Record<string, string>)).slice(0, 8);
    let same = 0;
    for (const [runId, digest] of sample) {
      const res = await http.request('GET', `/api/runs/${runId}/logs`, undefined, ADMIN_TOKEN);
      if (res.status === 200 && createHash('sha256').update(String(res.body)).digest('hex') === digest) same++;
    }
    const states = await runStates(db);
    await orch.stop();
    s.check('every byte acknowledged was stored', stored === bytes, `${bytes} acknowledged, ${stored} stored (${onDisk} bytes in the database after deflate)`);
    s.check('logs read back byte for byte', sample.length > 0 && same === sample.length, `${same} of ${sample.length} runs' logs match what their runners sent`);
    s.check('every run finished', states.finished === count, JSON.stringify(states));
    s.check('no error responses', t.errors === 0, `${t.errors} errors${t.first ? ` (${t.first})` : ''}`);

    ctx.progress(`reference: plain pg, ${count} writers inserting ${chunkBytes / 1024} KiB bytea chunks`);
    await withClient(db.url, (c) =>
      c.query(`CREATE TABLE bench_log_chunk (stream text NOT NULL, pos bigint NOT NULL, data bytea NOT NULL, PRIMARY KEY (stream, pos))`),
    );
    const cpuRef = new CpuBreakdown([], pool.pids).start();
    const refParts = await pool.all('pglogs', (i) => ({ dbUrl: db.url, writers: split(count, pool.size)[i], chunkBytes, seconds }));
    s.share('plain pg writers', cpuRef.stop());
    const refBytes = refParts.reduce((a, p) => a + p.bytes, 0);
    const refSpan = (Math.max(...refParts.map((p) => p.lastAt)) - Math.min(...refParts.map((p) => p.firstAt))) / 1000;

    const mbps = bytes / span / 1e6;
    const refMbps = refBytes / refSpan / 1e6;
    s.row({ metric: 'log MB/s stored', unit: 'MB/s', ours: mbps, reference: refMbps, referenceName: `plain pg bytea inserts, ${count} writers`, target: '≥ 50 MB/s', check: (o) => o >= 50 });
    s.row({ metric: 'orchestrator CPU', unit: '% of a core', ours: s.cpu[0].orchestrator, reference: null, referenceName: '', target: '—' });
    s.row({ metric: 'bytes in the database per log byte (deflate)', unit: '×', ours: onDisk / stored, reference: 1, referenceName: 'plain pg: raw bytea', target: '—' });
    s.bound.push(boundOf('Log ingest', s.cpu[0], cpuCores()));
    s.bound.push(boundOf('Plain pg writers', s.cpu[1], cpuCores()));
    s.raw.ours = { bytes, seconds: span, mbps, chunks: parts.reduce((a, p) => a + p.chunks, 0), statuses: t.statuses };
    s.raw.reference = { bytes: refBytes, seconds: refSpan, mbps: refMbps };
  } finally {
    await s.cleanup();
  }
}

// ---------------------------------------------------------------------------------------------
// 7. token revocation across processes

/**
 * Two orchestrators on one database. Each API token is used on process B (so B holds it in
 * memory), revoked through process A, then asked for on B every few milliseconds until B refuses
 * it: the time from A's answer to B's first 401 (SPEC section 12: at once, in every process).
 */
export async function tokenRevocation(ctx: Ctx, s: Scenario): Promise<void> {
  const { tokens } = ctx.scale.revocation;
  try {
    const db = await createDatabase('s7');
    s.defer(() => db.drop());
    const a = await orchestrator(db);
    s.defer(() => a.stop());
    const b = await orchestrator(db);
    s.defer(() => b.stop());
    const httpA = new JsonClient(a.url);
    const httpB = new JsonClient(b.url);
    s.defer(async () => {
      httpA.close();
      httpB.close();
    });
    ctx.progress(`${tokens} tokens revoked through one process, timed until the other refuses them`);
    const delays: number[] = [];
    let unexpected = 0;
    for (let i = 0; i < tokens; i++) {
      const made = await httpA.post('/api/tokens', { name: `bench-${i}`, scopes: ['read'] }, ADMIN_TOKEN);
      if (made.status !== 201) throw new Error(`POST /api/tokens answered ${made.status}: ${JSON.stringify(made.body)}`);
      const token = made.body.token as string;
      for (let k = 0; k < 2; k++) if ((await httpB.request('GET', '/api/runs?limit=1', undefined, token)).status !== 200) unexpected++;
      const revoked = await httpA.request('DELETE', `/api/tokens/${made.body.id as string}`, undefined, ADMIN_TOKEN);
      if (revoked.status !== 200) throw new Error(`DELETE /api/tokens answered ${revoked.status}`);
      const from = wallMs();
      let status = 200;
      while (status !== 401 && wallMs() - from < 10_000) {
        status = (await httpB.request('GET', '/api/runs?limit=1', undefined, token)).status;
        if (status !== 401) await sleep(2);
      }
      delays.push(status === 401 ? wallMs() - from : Infinity);
    }
    const worst = Math.max(...delays);
    s.check('every token worked on the other process before its revocation', unexpected === 0, `${unexpected} unexpected answers`);
    s.check('every revoked token refused by the other process within 1 s', worst <= 1000, `worst ${round(worst, 1)} ms over ${tokens} tokens`);
    s.row({ metric: 'revocation seen by the other process, median', unit: 'ms', ours: percentile(delays, 50), reference: null, referenceName: '', target: '≤ 1000 ms', check: (o) => o <= 1000 });
    s.row({ metric: 'revocation seen by the other process, worst', unit: 'ms', ours: worst, reference: null, referenceName: '', target: '≤ 1000 ms', check: (o) => o <= 1000 });
    s.raw.delaysMs = delays;
    } finally {
      await s.cleanup();
    }
  }

/**
 * Scenario 13, secrets: (a) log ingest by runners that mask 10 secrets (the runner's own masker,
 * runner/dist/mask.js, on every chunk; on the server, runs with secrets take the locked update
 * path that looks for values in clear) against the same runners streaming runs without secrets,
 * on one orchestrator; (b) the masker's own throughput with 100 secrets over CI-like log text.
 */
export async function secretsScenario(ctx: Ctx, s: Scenario): Promise<void> {
  const { runners: count, chunkBytes, seconds } = ctx.scale.logs;
  try {
    const { db, orch, pool, http, runners } = await oneOrchestrator(ctx, s, 's13', 's13-secrets.cpuprofile', count);
    const names = Array.from({ length: 10 }, (_, i) => `BENCH_SECRET_${i}`);
    for (const name of names) {
      const res = await http.request('PUT', `/api/namespaces/${NAMESPACE}/secrets/${name}`, { value: randomBytes(24).toString('base64url') }, ADMIN_TOKEN);
      if (res.status !== 201) throw new Error(`PUT secret answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
    const phases: Array<{ label: string; mbps: number; seconds: number; startMs: number }> = [];
    const phase = async (label: string, secrets: string[]): Promise<{ mbps: number; errors: number; first?: string }> => {
      ctx.progress(`${count} runners streaming ${chunkBytes / 1024} KiB chunks for ${seconds} s, ${label}`);
      await submit(http, { repos: Array.from({ length: count }, () => REPO), ...(secrets.length > 0 && { secrets }) });
      const cpu = new CpuBreakdown([orch.pid], pool.pids).start();
      const parts = await pool.all('logs', (i) => ({ url: orch.url, runners: chunks(runners, pool.size)[i], chunkBytes, seconds }));
      s.share(label, cpu.stop());
      const bytes = parts.reduce((a, p) => a + p.bytes, 0);
      const span = (Math.max(...parts.map((p) => p.lastAt)) - Math.min(...parts.map((p) => p.firstAt))) / 1000;
      const t = tallyErrors(parts.map((p) => p.tally));
      // How long it took until every runner had its first chunk stored (dispatch, first updates).
      const startMs = Math.max(...parts.map((p) => p.lastFirstChunkAt)) - Math.min(...parts.map((p) => p.firstAt));
      phases.push({ label, mbps: bytes / span / 1e6, seconds: span, startMs });
      return { mbps: bytes / span / 1e6, errors: t.errors, first: t.first };
    };
    // A B B A: neither side always runs on the larger tables or the warmer process.
    const a1 = await phase('runs without secrets', []);
    const b1 = await phase('runner masks 10 secrets', names);
    const b2 = await phase('runner masks 10 secrets, again', names);
    const a2 = await phase('runs without secrets, again', []);
    const plain = { mbps: (a1.mbps + a2.mbps) / 2, errors: a1.errors + a2.errors, first: a1.first ?? a2.first };
    const masked = { mbps: (b1.mbps + b2.mbps) / 2, errors: b1.errors + b2.errors, first: b1.first ?? b2.first };
    const states = await runStates(db);
    await orch.stop();
    s.check('every run finished', states.finished === 4 * count, JSON.stringify(states));
    s.check('no error responses', plain.errors + masked.errors === 0, `${plain.errors + masked.errors} errors${plain.first ?? masked.first ? ` (${plain.first ?? masked.first})` : ''}`);
    s.row({
      metric: 'log MB/s stored, runner masking 10 secrets',
      unit: 'MB/s',
      ours: masked.mbps,
      reference: plain.mbps,
      referenceName: 'the same runners, runs without secrets',
      target: '≥ 0.9× ref',
      check: (o, r) => r !== null && o >= 0.9 * r,
    });

    const megabytes = ctx.scale.mode === 'full' ? 64 : ctx.scale.mode === 'quick' ? 16 : 4;
    ctx.progress(`masker: ${megabytes} MB of CI-like log through 100 secrets, 64 KiB writes`);
    const mask = runnerMask();
    const values = Array.from({ length: 100 }, () => randomBytes(8 + (randomBytes(1)[0] % 40)).toString('base64url'));
    const text = Buffer.from(ciLogChunks(16, 64 * 1024, 7).join(''));
    const writes = Math.ceil((megabytes * 1e6) / (64 * 1024));
    const masker = new mask.Masker(mask.maskPatterns(values));
    let out = 0;
    const started = process.hrtime.bigint();
    for (let i = 0; i < writes; i++) {
      const at = (i * 64 * 1024) % (text.length - 64 * 1024);
      out += masker.write(text.subarray(at, at + 64 * 1024)).length;
    }
    out += masker.end().length;
    const maskSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    // Reference: a JS loop that only reads every byte of the same writes (what a scan cannot beat).
    let sum = 0;
    const refStarted = process.hrtime.bigint();
    for (let i = 0; i < writes; i++) {
      const at = (i * 64 * 1024) % (text.length - 64 * 1024);
      const piece = text.subarray(at, at + 64 * 1024);
      for (let j = 0; j < piece.length; j++) sum += piece[j];
    }
    const refSeconds = Number(process.hrtime.bigint() - refStarted) / 1e9;
    s.check('the masker passes text without secrets unchanged', out === writes * 64 * 1024 && sum > 0, `${out} of ${writes * 64 * 1024} bytes out`);
    s.row({
      metric: 'masker throughput, 100 secrets (500 patterns)',
      unit: 'MB/s',
      ours: (writes * 64 * 1024) / maskSeconds / 1e6,
      reference: (writes * 64 * 1024) / refSeconds / 1e6,
      referenceName: 'a JS loop reading every byte',
      target: '—',
    });
    s.raw.ours = { masked: masked.mbps, plain: plain.mbps, phases, maskerSeconds: maskSeconds, maskerBytes: writes * 64 * 1024 };
  } finally {
    await s.cleanup();
  }
}

/** The runner's masker, as built (runner/dist/mask.js): the bench measures what runners run. */
function runnerMask(): { Masker: new (p: Buffer[]) => { write(b: Buffer): Buffer; end(): Buffer }; maskPatterns(v: string[]): Buffer[] } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(join(__dirname, '../../runner/dist/mask.js')) as ReturnType<typeof runnerMask>;
}

export type ScenarioFn = (ctx: Ctx, s: Scenario) => Promise<void>;

export const SCENARIOS: Array<{ id: number; name: string; fn: ScenarioFn }> = [
  { id: 1, name: 'idle heartbeats', fn: idleHeartbeats },
  { id: 2, name: 'dispatch cycle', fn: dispatchCycle },
  { id: 3, name: 'pickup latency', fn: pickupLatency },
  { id: 4, name: 'fleet', fn: fleet },
  { id: 5, name: 'log ingest', fn: logIngest },
  { id: 6, name: 'scale-out', fn: scaleOut },
  { id: 7, name: 'token revocation', fn: tokenRevocation },
  { id: 8, name: 'container runs', fn: containerRuns },
  { id: 9, name: 'live feed', fn: liveFeed },
  { id: 10, name: 'dashboard log open', fn: browserLogOpen },
  { id: 11, name: 'cancel latency', fn: cancelLatency },
  { id: 12, name: 'retention cost', fn: retentionCost },
  { id: 13, name: 'secrets', fn: secretsScenario },
  { id: 14, name: 'instances', fn: instancePlacement },
];

export function toResult(s: Scenario, seconds: number, error?: string): ScenarioResult {
  return { id: s.id, name: s.name, rows: s.rows, checks: s.checks, cpu: s.cpu, bound: s.bound, seconds: round(seconds, 1), raw: s.raw, ...(error && { error }) };
}

export { Scenario };
