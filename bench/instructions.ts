/**
 * `npm run bench:instructions`: how many instructions the orchestrator executes (callgrind's Ir)
 * per idle heartbeat and per dispatched run. The wall-clock scenarios swing by 2x from one run to
 * the next on a shared VM; an instruction count does not depend on the neighbours, so two commits
 * can be compared to within a few per cent (issue #14 asks for 5 %).
 *
 *   node dist/bench/instructions.js [--dist=DIR] [--rounds=2] [--heartbeats=5000] [--warmup=20000]
 *        [--runs=300] [--run-warmup=5000] [--batch=50] [--runners=4] [--keep=DIR] [--node=FLAG]
 *   bash bench/at-commit.sh b0f4139 -- instructions      (another commit's orchestrator)
 *
 * `node DIR/src/main.js` (default: this build's) runs under `valgrind --tool=callgrind` on a fresh
 * PostgreSQL database. Each measurement is a series of rounds of the same shape; the first ones
 * warm the process up (V8 keeps optimizing the request path for the first few thousand requests)
 * and are not counted, then each counted round is framed by `callgrind_control --zero` and
 * `--dump`:
 *
 * - idle heartbeat: `{"status":"ready","runs":[]}` with nothing queued and no `wait`, the round's
 *   runners taking turns, one request at a time;
 * - dispatched run: batches of `--batch` runs submitted in one request (POST /api/runs, jobs[]),
 *   each run taken by a heartbeat and completed, one request at a time (so nothing is grouped by
 *   chance); the count per run includes its share of the submission.
 *
 * Every round has runners of its own, registered and seen once just before it: the token cache
 * (60 s) then expires in no round. SWEEP_INTERVAL and RUNNER_DEAD_AFTER are set high, so no sweep
 * and no liveness rewrite (every RUNNER_DEAD_AFTER / 4) falls into a round. What the process does
 * with no request at all (timers) is counted in a quiet window after the rounds and subtracted,
 * pro rata to each round's wall time. Only the protocol every commit since the harness speaks is
 * used: registration, heartbeat, complete, PUT /api/namespaces, POST /api/runs.
 */
import { ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { JsonClient, LeanConnection } from './lib/http';
import { createDatabase } from './lib/pg';
import { ADMIN_TOKEN, REGISTRATION_TOKEN, orchestratorEnv, spawnServer } from './lib/server';
import { fmtNumber, mean, sleep } from './lib/util';

const NAMESPACE = 'bench';
const REPO = 'https://example.com/bench.git';

/**
 * V8's garbage collector runs on the main thread (not on helper threads, where it would be counted
 * with the optimizing compiler), starts with an old space large enough that no full collection
 * falls into a round (one costs as much as a thousand heartbeats, so a round with one and a round
 * without would differ by half), and without the memory reducer, which collects when the
 * allocation rate per wall-clock second is low: always, at valgrind's pace. Scavenges still
 * happen, in step with what the requests allocate. --trace-gc shows what ran in the rounds.
 */
/** The database pool closes connections idle for 30 s: the warm-up outlasts that after its burst. */
const WARMUP_SECONDS = 60;

const NODE_ARGS = ['--single-threaded-gc', '--initial-old-space-size=1024', '--no-memory-reducer', '--trace-gc'];

interface Options {
  dist: string;
  rounds: number;
  heartbeats: number;
  warmup: number;
  runs: number;
  runWarmup: number;
  batch: number;
  runners: number;
  keep?: string;
  /** More node/V8 flags for the orchestrator (--node=--no-opt). */
  node: string[];
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { dist: resolve(__dirname, '..'), rounds: 2, heartbeats: 5000, warmup: 20000, runs: 300, runWarmup: 5000, batch: 50, runners: 4, node: [] };
  const numbers: Record<string, keyof Options> = {
    '--rounds': 'rounds',
    '--heartbeats': 'heartbeats',
    '--warmup': 'warmup',
    '--runs': 'runs',
    '--run-warmup': 'runWarmup',
    '--batch': 'batch',
    '--runners': 'runners',
  };
  for (const a of argv) {
    const at = a.indexOf('=');
    const [name, value] = at < 0 ? [a, ''] : [a.slice(0, at), a.slice(at + 1)];
    if (name === '--dist' && value) opts.dist = resolve(value);
    else if (name === '--keep' && value) opts.keep = resolve(value);
    else if (name === '--node' && value) opts.node.push(value);
    else if (numbers[name] && Number(value) >= 0) (opts as unknown as Record<string, number>)[numbers[name]] = Number(value);
    else throw new Error(`unknown argument ${a} (see the comment at the top of bench/instructions.ts)`);
  }
  return opts;
}

/** Counts the collections the process reports (--trace-gc lines on its stdout). */
function countGcs(child: ChildProcess): { scavenges: number; full: number } {
  const seen = { scavenges: 0, full: 0 };
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (/ms: Scavenge /.test(line)) seen.scavenges++;
      else if (/ms: Mark-(Compact|Sweep) /.test(line)) seen.full++;
    }
  });
  return seen;
}

/** What one window counted (Ir), and how long it lasted. */
interface Count {
  /** The main thread: JavaScript, the event loop, garbage collection. */
  main: number;
  /** Of which: under the HTTP parser's callbacks (the request path up to its first wait on the database). */
  http: number;
  /** Of which: garbage collection. */
  gc: number;
  /** The other threads: V8's optimizing compiler. */
  helpers: number;
  seconds: number;
}

/** Control of a process running under callgrind, through valgrind's gdbserver (vgdb). */
class Callgrind {
  private dumps = 0;

  constructor(
    private readonly pid: number,
    private readonly outFile: string,
    /** valgrind names its vgdb pipes after $HOST: the one the orchestrator was started with. */
    private readonly host: string,
  ) {}

  /** Counting slows the process down further: it is off while the process starts and warms up. */
  instrument(on: boolean): void {
    this.control(`--instr=${on ? 'on' : 'off'}`);
  }

  zero(): void {
    this.control('--zero');
  }

  /** The counts since the last zero: one file per thread (--separate-threads=yes), 01 the main one. */
  async dump(seconds: number): Promise<Count> {
    this.control('--dump');
    const dir = dirname(this.outFile);
    const prefix = `${basename(this.outFile)}.${++this.dumps}-`;
    for (let i = 0; i < 100; i++) {
      const files = readdirSync(dir).filter((f) => f.startsWith(prefix));
      const totals = files.map((f) => /^totals:\s*(\d+)/m.exec(readFileSync(join(dir, f), 'utf8'))?.[1]);
      if (files.length > 0 && totals.every((t) => t !== undefined)) {
        const count: Count = { main: 0, http: 0, gc: 0, helpers: 0, seconds };
        files.forEach((f, k) => (count[f === `${prefix}01` ? 'main' : 'helpers'] += Number(totals[k])));
        const inclusive = execFileSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', join(dir, `${prefix}01`)], { maxBuffer: 1 << 28 }).toString();
        const under = (fn: string): number => Number(new RegExp(`^\\s*([\\d,]+) .*${fn}`, 'm').exec(inclusive)?.[1].replace(/,/g, '') ?? 0);
        count.http = under('Parser::OnStreamRead');
        count.gc = under('Heap::CollectGarbage');
        return count;
      }
      await sleep(100);
    }
    throw new Error(`callgrind wrote no ${prefix}NN`);
  }

  private control(action: string): void {
    execFileSync('callgrind_control', [action, String(this.pid)], { env: { ...process.env, HOST: this.host }, stdio: 'ignore' });
  }
}

interface BenchRunner {
  id: string;
  token: string;
  conn: LeanConnection;
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), 'pulse-instr-'));
  const outFile = join(opts.keep ?? work, `callgrind.out.${process.pid}`);
  const db = await createDatabase('instr');
  const env = orchestratorEnv(db.url, { SWEEP_INTERVAL: '3600', RUNNER_DEAD_AFTER: '86400' });
  const what = process.env.BENCH_COMMIT ?? opts.dist;
  say(`starting ${join(opts.dist, 'src', 'main.js')} (${what}) under callgrind: a few minutes...`);
  const wrapper = ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', '--separate-threads=yes', `--callgrind-out-file=${outFile}`];
  const orch = await spawnServer(join(opts.dist, 'src', 'main.js'), env, { wrapper, nodeArgs: [...NODE_ARGS, ...opts.node], cwd: work });
  const gcs = countGcs(orch.child);
  const cg = new Callgrind(orch.pid, outFile, env.HOST);
  const admin = new LeanConnection(orch.url);
  const lines = Array.from({ length: opts.runners }, () => new LeanConnection(orch.url));
  try {
    await putNamespace(orch.url);

    let runners: BenchRunner[] = [];
    let turn = 0;
    const heartbeat = (r: BenchRunner) => r.conn.post('/api/runner/heartbeat', { id: r.id, status: 'ready', runs: [] }, r.token);
    /** New runners for the next round, each seen once (its liveness written, its token cached). */
    const enlist = async (): Promise<void> => {
      runners = [];
      for (const conn of lines) {
        const res = await admin.post('/api/runner/registration', { token: REGISTRATION_TOKEN, labels: [] });
        if (res.status !== 201) throw new Error(`registration answered ${res.status}: ${JSON.stringify(res.body)}`);
        const r = { id: res.body.runner_id, token: res.body.runner_token, conn };
        if ((await heartbeat(r)).status !== 200) throw new Error('the first heartbeat of a new runner failed');
        runners.push(r);
      }
    };
    const next = (): BenchRunner => runners[turn++ % runners.length];

    const idle = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const res = await heartbeat(next());
        if (res.status !== 200 || res.body?.heartbeat?.run) throw new Error(`an idle heartbeat answered ${res.status}: ${JSON.stringify(res.body)}`);
      }
    };
    let empties = 0;
    const dispatch = async (n: number): Promise<void> => {
      for (let done = 0; done < n; ) {
        const size = Math.min(opts.batch, n - done);
        const sub = await admin.post('/api/runs', { namespace: NAMESPACE, script: 'true', jobs: Array.from({ length: size }, () => ({ repo: REPO })) }, ADMIN_TOKEN);
        if (sub.status !== 201) throw new Error(`POST /api/runs answered ${sub.status}: ${JSON.stringify(sub.body)}`);
        for (let got = 0; got < size; ) {
          const r = next();
          const hb = await heartbeat(r);
          if (hb.status !== 200) throw new Error(`a heartbeat answered ${hb.status}: ${JSON.stringify(hb.body)}`);
          const run = hb.body?.heartbeat?.run;
          if (!run) {
            if (++empties > 10 * n) throw new Error('the runs submitted are not handed out');
            continue;
          }
          const result = { id: run.id, status: 'finished', exitCode: 0 };
          const done = await r.conn.post(`/api/runner/complete/${r.id}/${run.project}`, { messageId: run.messageId, result }, r.token);
          if (done.status !== 200) throw new Error(`complete answered ${done.status}: ${JSON.stringify(done.body)}`);
          got++;
        }
        done += size;
      }
    };

    /** Counts `fn`, with a pause before and after so that neither earlier work nor these requests' tails are cut. */
    const count = async (fn: () => Promise<unknown>): Promise<Count> => {
      await sleep(500);
      cg.zero();
      const t = Date.now();
      await fn();
      await sleep(500);
      return cg.dump((Date.now() - t) / 1000);
    };
    /** Main-thread Ir per second with no requests, from a window without a collection. */
    const quietRate = async (): Promise<number> => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const before = gcs.scavenges + gcs.full;
        const quiet = await count(() => sleep(10_000));
        if (gcs.scavenges + gcs.full === before) return quiet.main / quiet.seconds;
      }
      throw new Error('a collection in each of three quiet windows');
    };
    /**
     * Opens several database connections at once (concurrent registrations on connections of
     * their own, then closed). The pool closes the extra ones after 30 s idle; the first time a
     * socket of another kind goes through Node's stream code, V8 throws that code's optimized
     * version away, which must happen during the warm-up, not in a counted round.
     */
    const burst = async (): Promise<void> => {
      const extra = Array.from({ length: 8 }, () => new LeanConnection(orch.url));
      await Promise.all(extra.map((c) => c.post('/api/runner/registration', { token: REGISTRATION_TOKEN, labels: [] })));
      for (const c of extra) c.close();
    };
    /**
     * Uncounted rounds (a burst, then at least `warmup` requests and WARMUP_SECONDS), then
     * `opts.rounds` counted ones and a quiet window. Returns the means per request of the main
     * thread less the quiet rate, and of the HTTP path.
     */
    const measure = async (label: string, round: (n: number) => Promise<void>, per: number, warmup: number): Promise<{ all: number; http: number }> => {
      say(label);
      const t = Date.now();
      await burst();
      for (let n = 0; n < warmup || Date.now() - t < WARMUP_SECONDS * 1000; n += per) {
        await enlist();
        await round(per);
      }
      const warmSeconds = (Date.now() - t) / 1000;
      cg.instrument(true);
      const before = { ...gcs };
      const counts: Count[] = [];
      for (let i = 0; i < opts.rounds; i++) {
        await enlist();
        counts.push(await count(() => round(per)));
      }
      const collections = `${gcs.scavenges - before.scavenges} scavenges, ${gcs.full - before.full} full`;
      const rate = await quietRate();
      cg.instrument(false);
      const net = counts.map((c) => (c.main - rate * c.seconds) / per);
      const line = (name: string, values: number[]): void => {
        const spread = values.length > 1 && Math.min(...values) > 0 ? ` (spread ${(((Math.max(...values) - Math.min(...values)) / Math.min(...values)) * 100).toFixed(1)} %)` : '';
        say(`  ${`${name}:`.padEnd(46)}${values.map((v) => fmtNumber(Math.round(v))).join(' / ')}${spread}`);
      };
      say(`  warm-up ${warmSeconds.toFixed(0)} s; rounds ${counts.map((c) => c.seconds.toFixed(1)).join(' / ')} s; collections in them: ${collections}`);
      say(`  no requests: ${fmtNumber(Math.round(rate))} Ir per second on the main thread (subtracted below)`);
      say(`  Ir per request, one figure per round:`);
      line('main thread, less the no-request rate', net);
      line('  of which under the HTTP parser callbacks', counts.map((c) => c.http / per));
      line('  of which garbage collection', counts.map((c) => c.gc / per));
      line('other threads (V8 compiler)', counts.map((c) => c.helpers / per));
      return { all: mean(net), http: mean(counts.map((c) => c.http / per)) };
    };

    const beat = await measure(
      `idle heartbeat: ${opts.rounds} rounds of ${opts.heartbeats} after ${opts.warmup}, ${opts.runners} runners taking turns`,
      idle,
      opts.heartbeats,
      opts.warmup,
    );
    const run = await measure(
      `dispatched run: ${opts.rounds} rounds of ${opts.runs} after ${opts.runWarmup}, batches of ${opts.batch}, ${opts.runners} runners taking turns`,
      dispatch,
      opts.runs,
      opts.runWarmup,
    );
    if (empties > 0) say(`(heartbeats answered without a run while runs were queued: ${empties})`);
    const fmt = (v: number): string => fmtNumber(Math.round(v));
    say(`${what}: ${fmt(beat.all)} Ir per idle heartbeat (HTTP path ${fmt(beat.http)}), ${fmt(run.all)} Ir per dispatched run (HTTP path ${fmt(run.http)}); main thread, mean of ${opts.rounds} rounds`);
    if (opts.keep) say(`callgrind dumps: ${outFile}.N-TT (N: the counted rounds and quiet windows in order; TT: the thread, 01 the main one)`);
  } finally {
    for (const c of [admin, ...lines]) c.close();
    await orch.stop();
    await db.drop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The bench namespace (a PUT, which LeanConnection does not speak). */
async function putNamespace(url: string): Promise<void> {
  const http = new JsonClient(url);
  try {
    const res = await http.request('PUT', '/api/namespaces', { namespace_name: NAMESPACE, repositories: [REPO] }, ADMIN_TOKEN);
    if (res.status >= 300) throw new Error(`PUT /api/namespaces answered ${res.status}: ${JSON.stringify(res.body)}`);
  } finally {
    http.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
