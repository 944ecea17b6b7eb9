/* eslint-disable @typescript-eslint/no-explicit-any -- a bench harness: untyped JSON bodies */
/**
 * Scenarios of issue 15 (SPEC section 13):
 *
 * 11. cancel latency: 50 busy runners (scripted over HTTP, in this process) hold their busy long
 *    poll; each run is canceled in turn and the time from the DELETE to the runner's poll
 *    answering with the run in `cancel` is measured, p50 and p99, directly and through a real
 *    HTTP proxy (squid on loopback, when installed; the row is skipped otherwise). The kill of the
 *    process group itself is the runner's (test/busy-poll.e2e-spec.ts prints that figure).
 * 12. retention cost: the dispatch drain with retention off, and on while a backlog of old final
 *    runs (with logs) is being pruned and deleted, side by side in one run on one database: off,
 *    on, on, off, each from the same database, the mean of each side's drains compared, in runs/s
 *    and in the orchestrator's and PostgreSQL's CPU per run.
 */
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonClient } from './lib/http';
import { createDatabase, withClient } from './lib/pg';
import { CpuBreakdown } from './lib/procstat';
import { ADMIN_TOKEN, ORCHESTRATOR_MAIN, REGISTRATION_TOKEN, orchestratorEnv, spawnServer } from './lib/server';
import { mean, percentile, sleep, wallMs } from './lib/util';
import type { Ctx, Scenario } from './scenarios';

const NAMESPACE = 'ops';
const REPO = 'https://example.com/ops.git';

/** One HTTP request, directly or through an HTTP proxy (absolute-form request target). */
function call(base: string, proxy: string | undefined, method: string, path: string, body?: unknown, token?: string, timeoutMs = 60_000): Promise<{ status: number; body: any }> {
  const target = new URL(path, base);
  const via = proxy ? new URL(proxy) : target;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers: http.OutgoingHttpHeaders = { host: target.host };
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = payload.length;
  }
  if (token) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: via.hostname, port: Number(via.port), method, path: proxy ? target.toString() : target.pathname + target.search, headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout: ${method} ${path}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** squid on loopback only, no cache, no logs; undefined when squid is not installed. */
async function startSquid(): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  const bin = ['/usr/sbin/squid', '/usr/bin/squid'].find((p) => spawnSync(p, ['-v']).status === 0);
  if (!bin) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-squid-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  const conf = join(dir, 'squid.conf');
  writeFileSync(
    conf,
    [
      `http_port 127.0.0.1:${port}`,
      'acl loopback src 127.0.0.1/32',
      'http_access allow loopback',
      'http_access deny all',
      'cache deny all',
      'access_log none',
      `cache_log ${join(dir, 'cache.log')}`,
      `pid_filename ${join(dir, 'squid.pid')}`,
      `coredump_dir ${dir}`,
      'shutdown_lifetime 0 seconds',
      'read_timeout 5 minutes',
      'forwarded_for delete',
      'via off',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(bin, ['-N', '-f', conf], { stdio: 'ignore' });
  const deadline = Date.now() + 15_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      return undefined;
    }
    await sleep(100);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface BusyRunner {
  id: string;
  token: string;
}

/**
 * One round: every runner takes a run, then long-polls busy; the runs are canceled one by one
 * (`spacingMs` apart) and each latency is DELETE sent → the poll's answer naming the run.
 */
async function cancelRound(base: string, proxy: string | undefined, runners: BusyRunner[], spacingMs: number): Promise<number[]> {
  const runIds: string[] = [];
  const sub = await call(base, undefined, 'POST', '/api/runs', { namespace: NAMESPACE, script: 'sleep 600', jobs: runners.map(() => ({ repo: REPO })) }, ADMIN_TOKEN);
  if (sub.status !== 201) throw new Error(`submit: ${sub.status} ${JSON.stringify(sub.body)}`);
  for (const r of runners) {
    const hb = await call(base, proxy, 'POST', '/api/runner/heartbeat', { id: r.id, status: 'ready', runs: [] }, r.token);
    const run = hb.body?.heartbeat?.run;
    if (!run) throw new Error(`runner ${r.id} got no run: ${JSON.stringify(hb.body)}`);
    runIds.push(run.id as string);
  }
  const answered = new Map<string, number>();
  const loops = runners.map(async (r, i) => {
    for (;;) {
      const hb = await call(base, proxy, 'POST', '/api/runner/heartbeat', { id: r.id, status: 'busy', runs: [runIds[i]], wait: 20 }, r.token);
      if (hb.status !== 200) throw new Error(`busy heartbeat: ${hb.status} ${JSON.stringify(hb.body)}`);
      if ((hb.body.heartbeat.cancel ?? []).includes(runIds[i])) {
        answered.set(runIds[i], wallMs());
        return;
      }
    }
  });
  // Every poll held before the first cancel.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const m = await call(base, undefined, 'GET', '/metrics');
    const held = Number(/^pulse_busy_polls_waiting (\d+)$/m.exec(String(m.body))?.[1] ?? 0);
    if (held >= runners.length) break;
    if (Date.now() > deadline) throw new Error(`only ${held} of ${runners.length} busy polls held`);
    await sleep(50);
  }
  const sent = new Map<string, number>();
  for (const id of runIds) {
    sent.set(id, wallMs());
    const res = await call(base, undefined, 'DELETE', `/api/runs/${id}`, undefined, ADMIN_TOKEN);
    if (res.status !== 200) throw new Error(`cancel: ${res.status}`);
    await sleep(spacingMs);
  }
  await Promise.all(loops);
  return runIds.map((id) => (answered.get(id) as number) - (sent.get(id) as number));
}

export async function cancelLatency(ctx: Ctx, s: Scenario): Promise<void> {
  const count = ctx.scale.mode === 'tiny' ? 10 : 50;
  const rounds = ctx.scale.mode === 'full' ? 4 : 1;
  try {
    const db = await createDatabase('s7');
    s.defer(() => db.drop());
    // A long interval and grace: only the busy long poll can bring a cancel quickly.
    const orch = await spawnServer(ORCHESTRATOR_MAIN, orchestratorEnv(db.url, { HEARTBEAT_INTERVAL: '30', LONG_POLL_MAX: '25', RUNNER_DEAD_AFTER: '120', CANCEL_GRACE: '600' }));
    s.defer(() => orch.stop());
    const client = new JsonClient(orch.url);
    s.defer(async () => client.close());
    await client.request('PUT', '/api/namespaces', { namespace_name: NAMESPACE, repositories: [REPO] }, ADMIN_TOKEN);
    const runners: BusyRunner[] = [];
    for (let i = 0; i < count; i++) {
      const res = await client.post('/api/runner/registration', { token: REGISTRATION_TOKEN, name: `busy-${i}` });
      runners.push({ id: res.body.runner_id, token: res.body.runner_token });
    }
    const squid = await startSquid();
    if (squid) s.defer(() => squid.stop());
    const paths: Array<[string, string | undefined]> = [['direct', undefined], ...(squid ? [['through squid (HTTP proxy)', squid.url] as [string, string]] : [])];
    for (const [label, proxy] of paths) {
      const samples: number[] = [];
      for (let r = 0; r < rounds; r++) {
        ctx.progress(`cancel latency ${label}: round ${r + 1}/${rounds}, ${count} busy runners`);
        samples.push(...(await cancelRound(orch.url, proxy, runners, 20)));
        // The runs wait for their runners' confirmation (CANCEL_GRACE); make them final so the
        // runners are free for the next round.
        await withClient(db.url, (c) => c.query(`UPDATE run SET state = 'canceled', finished_at = now() WHERE state = 'running'`));
      }
      const p50 = percentile(samples, 50);
      const p99 = percentile(samples, 99);
      s.row({ metric: `cancel → busy poll answered, p50 (${label}, ${count} busy runners)`, unit: 'ms', ours: p50, reference: null, referenceName: '', target: '—' });
      s.row({ metric: `cancel → busy poll answered, p99 (${label}, ${count} busy runners)`, unit: 'ms', ours: p99, reference: null, referenceName: '', target: '≤ 1000 ms', check: (o) => o <= 1000 });
      s.raw[`cancel_${proxy ? 'proxy' : 'direct'}`] = { samples: samples.length, p50, p99, max: Math.max(...samples) };
      s.check(`every cancel reached its runner (${label})`, samples.length === count * rounds && samples.every((x) => Number.isFinite(x)), `${samples.length} samples`);
    }
    if (!squid) s.raw.proxy = 'squid not installed: proxy row skipped';
  } finally {
    await s.cleanup();
  }
}

export async function retentionCost(ctx: Ctx, s: Scenario): Promise<void> {
  const runs = ctx.scale.dispatch.runs;
  const backlog = runs;
  try {
    const db = await createDatabase('s8');
    s.defer(() => db.drop());
    const pool = await ctx.load(ctx.scale.loadProcs);
    const off = { LOG_RETENTION_DAYS: '0', RUN_RETENTION_DAYS: '0' };
    const on = { LOG_RETENTION_DAYS: '1', RUN_RETENTION_DAYS: '300' };
    let orch = await spawnServer(ORCHESTRATOR_MAIN, orchestratorEnv(db.url, off));
    // Whichever process is current when the scenario ends (or fails) is stopped.
    s.defer(() => orch.stop());
    const client = new JsonClient(orch.url);
    s.defer(async () => client.close());
    await client.request('PUT', '/api/namespaces', { namespace_name: NAMESPACE, repositories: [REPO] }, ADMIN_TOKEN);
    const count = ctx.scale.dispatch.runners;
    const reg = await pool.all('register', () => ({ url: orch.url, count: Math.ceil(count / pool.size) }));
    const runners = reg.flatMap((p: any) => p.runners);
    /** This process's pulse_retention_seconds_total (GET /metrics). */
    const retentionSeconds = async (url: string): Promise<number> => {
      const res = await call(url, undefined, 'GET', '/metrics');
      const m = /^pulse_retention_seconds_total ([0-9.e+-]+)$/m.exec(String(res.body));
      return m ? Number(m[1]) : NaN;
    };
    /**
     * One measured drain: its rate, its length, the seconds retention's statements took meanwhile,
     * and the CPU the orchestrator and PostgreSQL spent per run drained (/proc, milliseconds).
     */
    type Drain = { rate: number; seconds: number; pruning: number; cpuMsPerRun: number };
    const drainOnce = async (url: string, pid?: number, phase?: string): Promise<Drain> => {
      await call(url, undefined, 'POST', '/api/runs', { namespace: NAMESPACE, script: 'true', jobs: Array.from({ length: runs }, () => ({ repo: REPO })) }, ADMIN_TOKEN);
      const pruneBefore = await retentionSeconds(url);
      const cpu = new CpuBreakdown(pid === undefined ? [] : [pid], pool.pids).start();
      const parts = await pool.all('dispatch', (i) => ({ url, runners: runners.filter((_: unknown, j: number) => j % pool.size === i) }));
      const shares = cpu.stop();
      if (phase !== undefined) s.share(phase, shares);
      const pruning = (await retentionSeconds(url)) - pruneBefore;
      const received = parts.reduce((a: number, p: any) => a + p.received.length, 0);
      const seconds = (Math.max(...parts.map((p: any) => p.lastAt)) - Math.min(...parts.map((p: any) => p.firstAt))) / 1000;
      const cpuMsPerRun = received > 0 ? ((shares.orchestrator + shares.postgres) / 100) * shares.seconds * 1000 / received : NaN;
      return { rate: received / seconds, seconds, pruning, cpuMsPerRun };
    };
    ctx.progress(`retention cost: a backlog of ${backlog} final runs with logs, made 400 days old`);
    await drainOnce(orch.url);
    await withClient(db.url, async (c) => {
      await c.query(`UPDATE run SET finished_at = now() - interval '400 days' WHERE state = 'finished'`);
      await c.query(`INSERT INTO run_log_chunk (run_id, pos, data, len) SELECT id, 0, convert_to(repeat('log line\n', 100), 'UTF8'), 900 FROM run`);
    });
    // Each measured drain runs on a freshly started orchestrator after a short warm-up drain of
    // its own, so neither side is the only one to pay for a cold process.
    const warm = Math.max(1, Math.floor(runs / 4));
    const drainWarm = async (url: string, pid: number, phase: string): Promise<Drain> => {
      await call(url, undefined, 'POST', '/api/runs', { namespace: NAMESPACE, script: 'true', jobs: Array.from({ length: warm }, () => ({ repo: REPO })) }, ADMIN_TOKEN);
      await pool.all('dispatch', (i) => ({ url, runners: runners.filter((_: unknown, j: number) => j % pool.size === i) }));
      return drainOnce(url, pid, phase);
    };
    await orch.stop();
    const left = async (): Promise<number> => withClient(db.url, async (c) => Number((await c.query(`SELECT count(*) FROM run WHERE finished_at < now() - interval '300 days'`)).rows[0].count));
    const before = await left();
    // Each drain starts from the same database: the runs, batches and feed events the previous
    // drain (and its warm-up) made are deleted and the database vacuumed, so the table a drain
    // claims from does not grow drain after drain (it did: each drain slower than the one before,
    // which favoured whichever side drained first). Only the backlog's runs are old.
    const reset = async (): Promise<void> =>
      withClient(db.url, async (c) => {
        await c.query(`DELETE FROM run WHERE finished_at IS NULL OR finished_at > now() - interval '1 day'`);
        await c.query(`DELETE FROM batch b WHERE NOT EXISTS (SELECT 1 FROM run r WHERE r.batch_id = b.id)`);
        await c.query(`DELETE FROM event`);
        await c.query(`VACUUM ANALYZE`);
      });
    await reset();
    // Off, on, on, off (A B B A), each on a fresh process: the VM's speed moves by more than the
    // 5 % measured here from one drain to the next; the mean of each side's two drains cancels a
    // steady drift, where the better drain of each would favour the side that drained first.
    // Each "on" drain prunes part of the backlog (small batches per sweep), so both have some.
    const rates = { off: [] as number[], on: [] as number[] };
    const cpuPerRun = { off: [] as number[], on: [] as number[] };
    const onDrains = { seconds: 0, pruning: 0 };
    for (const [round, side] of (['off', 'on', 'on', 'off'] as const).entries()) {
      orch = await spawnServer(ORCHESTRATOR_MAIN, orchestratorEnv(db.url, { ...(side === 'on' ? on : off), SWEEP_INTERVAL: '0.2' }));
      ctx.progress(`retention cost: drain ${round + 1}/4, ${runs} runs with retention ${side}${side === 'on' ? ', pruning the backlog meanwhile' : ''} (fresh process, warmed up)`);
      const d = await drainWarm(orch.url, orch.pid, `retention ${side}, drain ${round + 1}`);
      rates[side].push(d.rate);
      cpuPerRun[side].push(d.cpuMsPerRun);
      if (side === 'on') {
        onDrains.seconds += d.seconds;
        onDrains.pruning += d.pruning;
      }
      await orch.stop();
      await reset();
    }
    const deleted = before - (await left());
    const rateOff = mean(rates.off);
    const rateOn = mean(rates.on);
    s.row({ metric: 'runs/s drained, retention on vs off (mean of two drains each)', unit: 'runs/s', ours: rateOn, reference: rateOff, referenceName: 'same drain, retention off', target: '≥ 0.95× ref', check: (o, r) => r !== null && o >= 0.95 * r });
    // How long retention's passes took during the drains with retention on, as a share of those
    // drains' wall time (pulse_retention_seconds_total): wall time, so waiting for a pooled
    // connection and for the CPU count too; an upper bound on the connection time it took.
    const share = onDrains.seconds > 0 ? (100 * onDrains.pruning) / onDrains.seconds : NaN;
    s.row({ metric: 'retention passes during the drains with retention on (wall time, waits included), share of the drains', unit: '%', ours: share, reference: null, referenceName: '', target: '—' });
    // What retention costs in CPU: the orchestrator's and PostgreSQL's CPU per run drained, the
    // mean of each side's two drains. Less at the mercy of scheduling than the drain rate on a
    // 2-core machine where everything competes for the same cores.
    s.row({ metric: 'orchestrator + PostgreSQL CPU per run drained, retention on vs off (mean of two drains each)', unit: 'ms', ours: mean(cpuPerRun.on), reference: mean(cpuPerRun.off), referenceName: 'same drain, retention off', target: '≤ 1.05× ref', check: (o, r) => r !== null && o <= 1.05 * r });
    s.row({ metric: 'runs/s drained, retention on vs off, the better drain of each', unit: 'runs/s', ours: Math.max(...rates.on), reference: Math.max(...rates.off), referenceName: 'same drain, retention off', target: '—' });
    s.check('retention deleted old runs (from its start to the end of the drain)', deleted > 0, `${deleted} of ${before} old runs deleted`);
    s.raw.retention = { rateOff, rateOn, rates, cpuPerRun, onDrains, backlog: before, deletedDuringDrain: deleted };
  } finally {
    await s.cleanup();
  }
}
