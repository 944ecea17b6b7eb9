/**
 * `npm run bench`: the benchmark driver. See BENCHMARKS.md for what it measures.
 *
 *   node dist/bench/run.js [--quick | --tiny] [--only=1,2,...] [--profile] [--no-write | --write] [--json=FILE]
 *
 * Exit code: 0 when every scenario's correctness checks pass (speed targets are reported, not
 * enforced, unless --strict), 1 otherwise.
 */
import { execSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { LoadPool } from './lib/load';
import { serverFacts } from './lib/pg';
import { round } from './lib/util';
import { summarizeCpuProfile } from './profile';
import { consoleTable, RunReport, writeBenchmarksMd } from './report';
import { correctnessOk, ScenarioResult } from './report-types';
import { Mode, scaleFor } from './scale';
import { Ctx, Scenario, SCENARIOS, toResult } from './scenarios';

/** The repository root (dist/bench -> ../..). */
const ROOT = resolve(__dirname, '..', '..');

export interface BenchOptions {
  mode: Mode;
  only?: number[];
  profile: boolean;
  write: boolean;
  json?: string;
  strict: boolean;
  loadProcs?: number;
}

export function parseArgs(argv: string[]): BenchOptions {
  const opts: BenchOptions = { mode: 'full', profile: false, write: true, strict: false };
  let writeSet = false;
  for (const a of argv) {
    if (a === '--quick') opts.mode = 'quick';
    else if (a === '--tiny') opts.mode = 'tiny';
    else if (a === '--profile') opts.profile = true;
    else if (a === '--no-write') {
      opts.write = false;
      writeSet = true;
    } else if (a === '--write') {
      opts.write = true;
      writeSet = true;
    }
    else if (a === '--strict') opts.strict = true;
    else if (a.startsWith('--only=')) opts.only = a.slice(7).split(',').map(Number);
    else if (a.startsWith('--json=')) opts.json = a.slice(7);
    else if (a.startsWith('--procs=')) opts.loadProcs = Number(a.slice(8));
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run bench -- [--quick|--tiny] [--only=1,2] [--profile] [--no-write|--write] [--json=FILE] [--strict]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  // A tiny run or a partial one does not replace the recorded figures unless asked to.
  if (!writeSet && (opts.mode === 'tiny' || opts.only)) opts.write = false;
  return opts;
}

/** Which orchestrator is measured: BENCH_COMMIT, else the work tree's HEAD (and whether src/ differs from it). */
function measuredCommit(): string {
  if (process.env.BENCH_COMMIT) return process.env.BENCH_COMMIT;
  try {
    const head = execSync('git rev-parse --short HEAD', { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execSync('git status --porcelain -- src', { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return dirty ? `${head} + uncommitted changes in src/` : head;
  } catch {
    return 'unknown';
  }
}

function machineFacts(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: round(os.totalmem() / 2 ** 30, 1),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    loadBefore: os.loadavg().map((l) => round(l, 2)).join(' '),
  };
}

/** How busy the whole machine is over `ms`, percent of one core (/proc/stat). */
async function busyPercent(ms: number): Promise<number> {
  const ticks = (): { busy: number; total: number } => {
    const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    return { busy: total - v[3] - (v[4] ?? 0), total };
  };
  const a = ticks();
  await new Promise((r) => setTimeout(r, ms));
  const b = ticks();
  return b.total > a.total ? round(((b.busy - a.busy) / (b.total - a.total)) * 100 * os.cpus().length, 0) : NaN;
}

export async function runBench(opts: BenchOptions): Promise<RunReport> {
  const scale = scaleFor(opts.mode);
  if (opts.loadProcs) scale.loadProcs = opts.loadProcs;
  const started = Date.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const profileDir = opts.profile ? join(resultsDir, `profile-${stamp}`) : undefined;
  const selected = SCENARIOS.filter((s) => !opts.only || opts.only.includes(s.id));
  const machine = machineFacts();
  machine.busyBeforePercent = await busyPercent(1000);
  if (machine.busyBeforePercent > 50) {
    process.stderr.write(
      `note: the machine was ${machine.busyBeforePercent} % busy (of ${Number(machine.cores) * 100} %) before the bench started: other work lowers every figure\n`,
    );
  }
  const postgres = await serverFacts();
  const results = new Map<number, ScenarioResult>();
  const shared = await LoadPool.start(scale.loadProcs);

  for (const [i, sc] of selected.entries()) {
    const t0 = Date.now();
    const head = `[${i + 1}/${selected.length}] ${sc.id} ${sc.name}`;
    const ctx: Ctx = {
      scale,
      profileDir,
      explain: opts.profile,
      results,
      load: (size) => shared.view(size),
      progress: (msg) => process.stderr.write(`${head}: ${msg} (+${((Date.now() - t0) / 1000).toFixed(1)} s)\n`),
    };
    ctx.progress('starting');
    const s = new Scenario(sc.id, sc.name);
    let error: string | undefined;
    try {
      await sc.fn(ctx, s);
    } catch (err) {
      error = err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err);
    }
    const r = toResult(s, (Date.now() - t0) / 1000, error);
    results.set(sc.id, r);
    const figures = r.rows.map((row) => `${row.metric} ${row.ours ?? '—'}${row.reference !== null ? ` vs ${row.reference}` : ''}`).join('; ');
    process.stderr.write(`${head}: ${error ? `ERROR ${error.split('\n')[0]}` : correctnessOk(r) ? 'correct' : 'CORRECTNESS FAILED'} in ${r.seconds} s — ${figures}\n`);
  }

  await shared.close();
  machine.loadAfter = os.loadavg().map((l) => round(l, 2)).join(' ');
  const report: RunReport = {
    mode: opts.mode,
    commit: measuredCommit(),
    command: `npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    totalSeconds: round((Date.now() - started) / 1000, 1),
    machine,
    postgres,
    results: [...results.values()],
  };
  if (profileDir) {
    try {
      report.profiles = readdirSync(profileDir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .sort()
        .map((f) => summarizeCpuProfile(join(profileDir, f)));
    } catch (err) {
      process.stderr.write(`profile summary failed: ${(err as Error).message}\n`);
    }
    report.explain = results.get(2)?.raw.explain ?? results.get(2)?.raw.explainError;
  }

  const file = opts.json ?? join(resultsDir, `${stamp}-${opts.mode}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  // A profiling run records its profile even when it does not replace the figures (--only).
  if (opts.write || report.profiles?.length) writeBenchmarksMd(join(ROOT, 'BENCHMARKS.md'), report, opts.write);

  process.stdout.write('\n' + consoleTable(report.results) + '\n\n');
  process.stdout.write(`raw results: ${file}${opts.write ? '; BENCHMARKS.md updated' : ''}; ${report.totalSeconds} s\n`);
  if (report.profiles) {
    for (const p of report.profiles) {
      process.stdout.write(`\nprofile ${p.file}\n  by package: ${p.byGroup.slice(0, 8).map((g) => `${g.group} ${g.pct}%`).join(', ')}\n`);
      process.stdout.write(`  top functions: ${p.topSelf.slice(0, 8).map((f) => `${f.fn} ${f.pct}%`).join(', ')}\n`);
    }
  }
  return report;
}

if (require.main === module) {
  let opts: BenchOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(2);
  }
  runBench(opts).then(
    (report) => {
      const correct = report.results.every(correctnessOk);
      const targets = report.results.every((r) => r.rows.every((row) => row.pass !== false));
      process.exit(correct && (!opts.strict || targets) ? 0 : 1);
    },
    (err: unknown) => {
      process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
