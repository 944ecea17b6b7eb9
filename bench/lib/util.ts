/** Small helpers shared by the driver and the load processes. */

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Wall-clock milliseconds with sub-millisecond resolution, comparable across processes on this
 * machine (performance.timeOrigin is the process start on the same clock as Date.now()).
 */
export function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The p-th percentile (0..100) of an array of numbers, nearest-rank; NaN for none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/** The arithmetic mean of an array of numbers; NaN for none. */
export function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function round(n: number, digits = 1): number {
  if (!Number.isFinite(n)) return n;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Splits `total` items over `parts` as evenly as possible. */
export function split(total: number, parts: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < parts; i++) out.push(Math.floor(total / parts) + (i < total % parts ? 1 : 0));
  return out;
}

/** Splits an array in `parts` contiguous slices (some may be empty). */
export function chunks<T>(items: T[], parts: number): T[][] {
  const sizes = split(items.length, parts);
  const out: T[][] = [];
  let at = 0;
  for (const n of sizes) {
    out.push(items.slice(at, at + n));
    at += n;
  }
  return out;
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(lanes);
  return out;
}

export function fmtNumber(n: number | null | undefined): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  if (!Number.isFinite(n)) return String(n);
  const abs = Math.abs(n);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

const STEPS = ['compile', 'test', 'lint', 'bundle', 'fetch', 'resolve', 'link', 'check'];
const WORDS = ['parser', 'scheduler', 'runner', 'lease', 'queue', 'worker', 'cache', 'codec', 'router', 'store'];

/**
 * `count` log chunks of `bytes` ASCII bytes each that read like a CI job's output: timestamps,
 * step names, paths, durations and hashes that change from line to line (seeded, so every run
 * sends the same bytes). Deflate shrinks them about as much as real build logs (3-5 times), not
 * the hundredfold of one repeated line.
 */
export function ciLogChunks(count: number, bytes: number, seed = 1): string[] {
  let x = seed >>> 0 || 1;
  const rnd = (n: number): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
  const hex = (): string => (rnd(0x7fffffff) * 2 + rnd(2)).toString(16).padStart(8, '0');
  const chunks: string[] = [];
  let t = Date.UTC(2026, 10, 23, 9, 0, 0);
  for (let c = 0; c < count; c++) {
    let text = '';
    while (text.length < bytes) {
      t += rnd(250);
      const step = STEPS[rnd(STEPS.length)];
      const file = `src/${WORDS[rnd(WORDS.length)]}/${WORDS[rnd(WORDS.length)]}_${rnd(10000)}.ts`;
      text += `${new Date(t).toISOString()} [job ${rnd(64)}] ${step} ${file} ok in ${rnd(5000)} ms (sha ${hex()}${hex()})\n`;
    }
    chunks.push(text.slice(0, bytes));
  }
  return chunks;
}
