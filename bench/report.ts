import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { correctnessOk, ScenarioResult } from './report-types';
import type { ProfileSummary } from './profile';
import { fmtNumber } from './lib/util';

export interface RunReport {
  mode: string;
  /** The orchestrator measured: a commit, perhaps with uncommitted changes. */
  commit: string;
  command: string;
  date: string;
  totalSeconds: number;
  machine: Record<string, string | number>;
  postgres: Record<string, string>;
  results: ScenarioResult[];
  profiles?: ProfileSummary[];
  explain?: unknown;
}

const HEAD = ['scenario', 'metric', 'ours', 'reference', 'ratio', 'target', 'pass/fail'];

function value(v: number | null, unit: string): string {
  if (v === null) return '—';
  const u = unit === 'req/s' || unit === 'runs/s' ? ` ${unit}` : unit === '% of a core' ? ' %' : ` ${unit}`;
  return `${fmtNumber(v)}${u}`;
}

/** The table's rows as cells: every figure, then one correctness row per scenario. */
export function tableRows(results: ScenarioResult[]): string[][] {
  const out: string[][] = [];
  for (const r of results) {
    for (const row of r.rows) {
      out.push([
        row.scenario,
        row.metric,
        value(row.ours, row.unit),
        row.reference === null ? '—' : `${value(row.reference, row.unit)} (${row.referenceName})`,
        row.ratio === null ? '—' : `${fmtNumber(row.ratio)}×`,
        row.target,
        row.pass === null ? '—' : row.pass ? 'pass' : 'FAIL',
      ]);
    }
    const ok = correctnessOk(r);
    const failed = r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail ?? ''}`);
    out.push([
      `${r.id} ${r.name}`,
      'correctness',
      r.error ? `error: ${r.error.split('\n')[0].slice(0, 80)}` : ok ? `${r.checks.length} checks ok` : failed.join('; ').slice(0, 120),
      '—',
      '—',
      'no run twice, no errors',
      ok ? 'pass' : 'FAIL',
    ]);
  }
  return out;
}

export function consoleTable(results: ScenarioResult[]): string {
  const rows = [HEAD, ...tableRows(results)];
  const widths = HEAD.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (i >= 2 && i <= 4 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(HEAD), sep, ...rows.slice(1).map(line)].join('\n');
}

function mdTable(head: string[], rows: string[][]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

function section(report: RunReport): string {
  const m = report.machine;
  const lines: string[] = [];
  lines.push(`Measured ${report.date} with \`${report.command}\` (${report.mode} mode, ${fmtNumber(report.totalSeconds)} s of benchmarking after the build), orchestrator at ${report.commit}.`);
  lines.push('');
  lines.push(
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}; Node ${m.node}; PostgreSQL ${report.postgres.version} ` +
      `(shared_buffers ${report.postgres.shared_buffers}, synchronous_commit ${report.postgres.synchronous_commit}, fsync ${report.postgres.fsync}, ` +
      `max_connections ${report.postgres.max_connections}). Machine busy just before the start: ${m.busyBeforePercent} % of ${Number(m.cores) * 100} %; load average before/after: ${m.loadBefore} / ${m.loadAfter} ` +
      '(the machine is shared: other work running at the same time lowers every figure, ours and the references alike).',
  );
  lines.push('');
  lines.push(mdTable(HEAD, tableRows(report.results)));
  lines.push('');
  lines.push('Correctness checks:');
  lines.push('');
  for (const r of report.results) {
    const checks = r.checks.map((c) => `${c.ok ? '✓' : '✗'} ${c.name}${c.detail ? ` (${c.detail})` : ''}`).join('; ');
    lines.push(`- **${r.id} ${r.name}** (${fmtNumber(r.seconds)} s)${r.error ? ` — error: ${r.error.split('\n')[0]}` : ''}: ${checks}`);
  }
  lines.push('');
  lines.push('Where the CPU went (percent of one core; the machine has ' + `${m.cores} cores = ${Number(m.cores) * 100} %):`);
  lines.push('');
  const cpuRows: string[][] = [];
  for (const r of report.results) {
    for (const c of r.cpu) {
      cpuRows.push([`${r.id} ${r.name}`, c.phase, fmtNumber(c.seconds), fmtNumber(c.orchestrator), fmtNumber(c.postgres), fmtNumber(c.load), fmtNumber(c.machine)]);
    }
  }
  lines.push(mdTable(['scenario', 'phase', 's', 'server under test', 'PostgreSQL', 'load processes', 'whole machine'], cpuRows));
  lines.push('');
  lines.push('What bounds each figure (from the CPU shares above):');
  lines.push('');
  for (const r of report.results) for (const b of r.bound) lines.push(`- ${r.id} ${r.name}: ${b}`);
  return lines.join('\n');
}

function profileSection(report: RunReport): string {
  const lines: string[] = [];
  lines.push(`From \`${report.command}\` on ${report.date}, orchestrator at ${report.commit}. The orchestrator ran under \`node --cpu-prof\`; percentages are of its busy (non-idle) time.`);
  for (const p of report.profiles ?? []) {
    lines.push('');
    lines.push(`**${p.file.split('/').pop()}** — ${fmtNumber(p.busyMs / 1000)} s busy of ${fmtNumber(p.totalMs / 1000)} s sampled after start-up (the first ${fmtNumber(p.skippedMs / 1000)} s, module loading and migrations, skipped).`);
    lines.push('');
    lines.push('Self time by package / file: ' + p.byGroup.map((g) => `${g.group} ${g.pct} %`).join(', ') + '.');
    lines.push('');
    lines.push('Top functions (self time): ' + p.topSelf.slice(0, 10).map((f) => `\`${f.fn}\` ${f.pct} %`).join(', ') + '.');
    lines.push('');
    lines.push("Pulse's own functions (inclusive synchronous time): " + p.pulseInclusive.slice(0, 10).map((f) => `\`${f.fn}\` ${f.pct} %`).join(', ') + '.');
  }
  const ex = report.explain as { runs?: number; drained?: number; statements?: number; queries?: Array<{ query: string; calls: number; totalMs: number; meanMs: number; plan: string }> } | undefined;
  if (ex?.queries?.length) {
    lines.push('');
    lines.push(
      `**Queries during dispatch** (auto_explain with ANALYZE on every statement while 64 runners drained ${ex.drained ?? ex.runs} waiting runs for up to 30 s, ${ex.runs} of them submitted for this pass, on top of the finished ones; ` +
        'durations include the instrumentation overhead, so compare them with each other):',
    );
    lines.push('');
    lines.push(
      mdTable(
        ['query', 'calls', 'total ms', 'mean ms'],
        ex.queries.slice(0, 12).map((q) => [`\`${q.query.slice(0, 140)}${q.query.length > 140 ? '…' : ''}\``, String(q.calls), fmtNumber(q.totalMs), String(q.meanMs)]),
      ),
    );
    const claim = ex.queries.find((q) => /FOR UPDATE SKIP LOCKED/i.test(q.query) && /^UPDATE run/i.test(q.query));
    const cand = ex.queries.find((q) => /CROSS JOIN LATERAL/i.test(q.query));
    for (const [name, q] of [['The claim', claim], ['The namespace choice', cand]] as const) {
      if (!q) continue;
      lines.push('');
      lines.push(`${name}, slowest call:`);
      lines.push('');
      lines.push('```');
      lines.push(q.plan.trim());
      lines.push('```');
    }
  }
  return lines.join('\n');
}

const INTRO = `# Benchmarks

\`npm run bench\` builds, then for each scenario creates a fresh PostgreSQL database, starts the
orchestrator (\`node dist/src/main.js\`) as its own process, and drives it from separate load
processes (\`dist/bench/load-worker.js\`, forked) over real HTTP keep-alive: autocannon for the
idle heartbeats, node:http keep-alive pools for the simulated runners. Every reference is measured
in the same run on the same database server (and for 2, 3 and 5 in the same database). The raw
figures of every run are in \`bench/results/*.json\` (not committed).

\`\`\`
npm run bench                     # full, 10 to 12 minutes on 2 cores
npm run bench -- --quick          # every scenario scaled down, about 2 minutes after the build
npm run bench -- --tiny           # about 2 minutes; what the e2e test runs (correctness only)
npm run bench -- --only=1,2       # some scenarios
npm run bench -- --profile        # also: --cpu-prof of the orchestrator in 1 to 5, auto_explain of the dispatch queries
\`\`\`

Scenarios: (1) idle heartbeats, 1,000 runners as fast as they can for 15 s, vs a bare NestJS+Fastify
app answering the same JSON (\`bench/bare-app.ts\`); (2) dispatch cycle, one 20,000-run batch in one
request, 64 runners loop heartbeat → complete until drained, vs a plain \`pg\` SKIP LOCKED claim+done
loop (partial index on queued rows) at 16 and at 64 workers (the faster counts) and graphile-worker
0.17.3 with 64 workers; ours drains twice, each on a fresh database and process, before and after
the two pg loops (A B B A), and the better drain counts, as the better of the pg loop's two does; (3) pickup
latency, 200 long-polling runners, 1,000 one-run submissions one every 10 ms, from the submission's
response to the runner's heartbeat response, vs PostgreSQL LISTEN/NOTIFY from commit to listener;
(4) fleet, 10,000 runners long-polling (interval 10 s) on one orchestrator, RSS and CPU from
/proc, vs the bare app holding the same polls; (5) log ingest, 64 runners streaming 64 KiB
chunks, vs 64 plain \`pg\` writers inserting the same chunks; (6) scale-out, scenario 2 on two
orchestrator processes sharing the database, vs scenario 2; (7) token revocation, API tokens revoked through one
process and timed until the other refuses them (target ≤ 1 s); (8) container runs, the real runner on
a real engine (\`PULSE_TEST_CONTAINER_ENGINE\`, a local image): submit → finished of \`true\` in a
container minus the same on the shell executor (target ≤ 1 s), and 20 container runs on 2 runners
that must leave zero containers on the engine; (9) live feed, scenario 2's drain with 3
feed readers connected vs none (rounds none, 3 readers, none), a namespace replaced 1,000 times and
the time from sending the request to its event at a connected reader, and 200 readers on one
process (every reader gets every event; RSS before and after); (10) dashboard log open, Chromium's
time from navigating to a run's page to the last line of its 100,000-line log on screen (opened on
its tail), and with the whole log loaded (\`#L100000\`); (11) cancel latency, 50 busy runners holding their
busy long poll, from the DELETE to the poll answering with the cancel, p50 and p99, direct and
through squid on loopback when installed (target ≤ 1 s); (12) retention cost, the dispatch drain
with retention off and on while a backlog of old final runs is pruned, in rounds off, on, on, off, each
from the same database (the previous drain's runs and events deleted), the mean of each side's
drains compared (target ≥ 0.95×), and the orchestrator's and PostgreSQL's CPU per run
drained, the mean of each side (target ≤ 1.05×); (13) secrets, scenario 5's runners
streaming runs with 10 secrets through the runner's masker, vs the same runners on runs without
secrets (phases A B B A), and the masker alone with 100 secrets over 64 MB of CI-like log, vs a
JS loop reading every byte.

`;

function between(text: string, name: string): string | undefined {
  const m = new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)\\n<!-- ${name}:end -->`).exec(text);
  return m?.[1];
}

/**
 * Rewrites BENCHMARKS.md: the section of this run's mode is replaced (unless `replaceResults` is
 * false), the profile section when the run profiled, and everything else is kept.
 */
export function writeBenchmarksMd(file: string, report: RunReport, replaceResults = true): void {
  const old = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const full = replaceResults && report.mode === 'full' ? section(report) : between(old, 'full') ?? '_No full run recorded yet._';
  const quick = replaceResults && report.mode === 'quick' ? section(report) : between(old, 'quick') ?? '_No quick run recorded yet._';
  const profile = report.profiles?.length || report.explain ? profileSection(report) : between(old, 'profile') ?? '_No profile recorded yet: `npm run bench -- --profile`._';
  const notes = between(old, 'notes') ?? '_Findings go here; this section is kept when the figures are rewritten._';
  const text = [
    INTRO,
    '## Full run',
    '',
    '<!-- full:start -->',
    full,
    '<!-- full:end -->',
    '',
    '## Quick run',
    '',
    '<!-- quick:start -->',
    quick,
    '<!-- quick:end -->',
    '',
    '## Profile',
    '',
    '<!-- profile:start -->',
    profile,
    '<!-- profile:end -->',
    '',
    '## Notes: what bounds the figures, and what to change',
    '',
    '<!-- notes:start -->',
    notes,
    '<!-- notes:end -->',
    '',
  ].join('\n');
  writeFileSync(file, text);
}
