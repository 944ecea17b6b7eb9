import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  file: string;
  /** Start-up skipped at the head of the profile, ms. */
  skippedMs: number;
  /** Sampled wall time, ms, and the part that was not idle. */
  totalMs: number;
  busyMs: number;
  /** Self time by package or source file, percent of busy time. */
  byGroup: Array<{ group: string; pct: number }>;
  /** Self time by function, percent of busy time. */
  topSelf: Array<{ fn: string; pct: number }>;
  /** Inclusive (synchronous) time of Pulse's own functions, percent of busy time. */
  pulseInclusive: Array<{ fn: string; pct: number }>;
}

function groupOf(url: string, fn: string): string {
  if (!url) {
    if (fn === '(garbage collector)') return '(garbage collector)';
    if (fn === '(idle)' || fn === '(program)' || fn === '(root)') return fn;
    return '(native)';
  }
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const src = url.indexOf('/dist/src/');
  if (src >= 0) return `pulse: ${url.slice(src + '/dist/src/'.length)}`;
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/')[0]}`;
  return url;
}

function short(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const src = url.indexOf('/dist/src/');
  if (src >= 0) return `src/${url.slice(src + '/dist/src/'.length)}`;
  return url.replace(/^file:\/\//, '');
}

/** Where the orchestrator's CPU went, from a V8 .cpuprofile (node --cpu-prof). */
export function summarizeCpuProfile(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // Skip start-up when the bench recorded how long it took (module loading is not serving).
  const startupFile = `${file}.startup.json`;
  const skipMs = existsSync(startupFile) ? (JSON.parse(readFileSync(startupFile, 'utf8')) as { startupMs: number }).startupMs : 0;
  let elapsed = 0;
  for (let i = 0; i < p.samples.length; i++) {
    elapsed += (p.timeDeltas[i] ?? 0) / 1000;
    if (elapsed < skipMs) continue;
    const dt = (p.timeDeltas[i + 1] ?? p.timeDeltas[i] ?? 0) / 1000;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
  }
  let total = 0;
  let idle = 0;
  const groups = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, ms] of self) {
    const n = byId.get(id);
    if (!n) continue;
    total += ms;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') {
      idle += ms;
      continue;
    }
    const g = groupOf(url, functionName);
    groups.set(g, (groups.get(g) ?? 0) + ms);
    const key = url ? `${functionName || '(anonymous)'} ${short(url)}:${lineNumber + 1}` : functionName;
    fns.set(key, (fns.get(key) ?? 0) + ms);
  }
  const busy = total - idle;

  // Inclusive time of Pulse's functions: a node's self time plus its subtree's, counted once per
  // function even when it recurses.
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const pulse = new Map<string, number>();
  for (const [id, ms] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n || !n.callFrame.url.includes('/dist/src/')) continue;
      const key = `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      pulse.set(key, (pulse.get(key) ?? 0) + ms);
    }
  }
  const pct = (ms: number): number => Math.round((ms / busy) * 1000) / 10;
  const sorted = (m: Map<string, number>): Array<[string, number]> => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    file,
    skippedMs: skipMs,
    totalMs: Math.round(total),
    busyMs: Math.round(busy),
    byGroup: sorted(groups).slice(0, top).map(([group, ms]) => ({ group, pct: pct(ms) })),
    topSelf: sorted(fns).slice(0, top).map(([fn, ms]) => ({ fn, pct: pct(ms) })),
    pulseInclusive: sorted(pulse).slice(0, top).map(([fn, ms]) => ({ fn, pct: pct(ms) })),
  };
}

export interface ExplainedQuery {
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  maxMs: number;
  /** The plan of the slowest call. */
  plan: string;
}

/**
 * Reads the auto_explain entries a database wrote to the PostgreSQL log since byte `from`, and
 * groups them by query text: a poor man's pg_stat_statements with plans, for the real queries.
 */
export function explainFromLog(logFile: string, from: number, database: string): { statements: number; queries: ExplainedQuery[] } {
  const size = statSync(logFile).size;
  const fd = openSync(logFile, 'r');
  const buf = Buffer.alloc(Math.max(0, size - from));
  readSync(fd, buf, 0, buf.length, from);
  closeSync(fd);
  const lines = buf.toString('utf8').split('\n');
  const entries: Array<{ ms: number; text: string[] }> = [];
  let current: { ms: number; text: string[] } | undefined;
  const head = new RegExp(`@${database} .*LOG:\\s+duration: ([\\d.]+) ms\\s+plan:`);
  for (const line of lines) {
    const m = head.exec(line);
    if (m) {
      current = { ms: Number(m[1]), text: [] };
      entries.push(current);
      continue;
    }
    if (current && line.startsWith('\t')) current.text.push(line.slice(1));
    else current = undefined;
  }
  const byQuery = new Map<string, ExplainedQuery>();
  for (const e of entries) {
    const qi = e.text.findIndex((l) => l.startsWith('Query Text:'));
    let end = e.text.findIndex((l, i) => i > qi && /^\S.*\((cost|actual)[= ]/.test(l));
    if (end < 0) end = qi + 1;
    const query = e.text
      .slice(qi, end)
      .join(' ')
      .replace(/^Query Text:\s*/, '')
      .replace(/\s+/g, ' ')
      .trim();
    const q = byQuery.get(query) ?? { query, calls: 0, totalMs: 0, meanMs: 0, maxMs: -1, plan: '' };
    q.calls++;
    q.totalMs += e.ms;
    if (e.ms > q.maxMs) {
      q.maxMs = e.ms;
      q.plan = e.text.slice(end).join('\n');
    }
    byQuery.set(query, q);
  }
  const queries = [...byQuery.values()]
    .map((q) => ({ ...q, totalMs: Math.round(q.totalMs * 10) / 10, meanMs: Math.round((q.totalMs / q.calls) * 1000) / 1000 }))
    .sort((a, b) => b.totalMs - a.totalMs);
  return { statements: entries.length, queries };
}
