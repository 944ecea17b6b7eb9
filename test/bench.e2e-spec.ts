import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { testEngine } from './support/containers';
import { testDatabaseUrl } from './support/pulse';

/**
 * The benchmark harness (`npm run bench`) in tiny mode, so that it cannot rot: every scenario runs
 * against the built orchestrator on real PostgreSQL and its correctness checks must pass (no run
 * handed out twice, no error responses). Speed targets are the harness's business, not this test's.
 */
const onPostgres = process.env.PULSE_TEST_DATABASE === 'postgres';
const RUN = resolve(__dirname, '../dist/bench/run.js');

(onPostgres ? describe : describe.skip)('bench harness (--tiny)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'pulse-bench-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every scenario with its references, and every correctness check passes', async () => {
    // Scenario 8 (container runs) needs a container engine; without one (and not under CI) it
    // is left out, loudly (testEngine warns), like the container e2e suite.
    const scenarios = testEngine() ? [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14] : [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14];
    const json = join(dir, 'tiny.json');
    let output = '';
    // The harness prints a progress line per scenario step on stderr; a run that overruns its
    // budget is killed with its whole process group (the orchestrators and runners it started),
    // and the failure shows how far each scenario got.
    const budgetMs = 540_000;
    const started = Date.now();
    const code = await new Promise<number | string | null>((done) => {
      const child = spawn(process.execPath, [RUN, '--tiny', '--no-write', `--json=${json}`, `--only=${scenarios.join(',')}`], {
        env: { ...process.env, BENCH_DATABASE_URL: testDatabaseUrl() },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
        done(`killed after ${budgetMs / 1000} s`);
      }, budgetMs);
      child.stdout.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr.on('data', (c: Buffer) => (output += c.toString()));
      child.on('exit', (c) => {
        clearTimeout(timer);
        done(c);
      });
    });
    process.stderr.write(`bench --tiny took ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    if (code !== 0) throw new Error(`bench exited with ${code}:\n${output}`);

    const report = JSON.parse(readFileSync(json, 'utf8')) as {
      mode: string;
      results: Array<{
        id: number;
        error?: string;
        checks: Array<{ name: string; ok: boolean; detail?: string }>;
        rows: Array<{ metric: string; ours: number | null; reference: number | null }>;
      }>;
    };
    expect(report.mode).toBe('tiny');
    expect(report.results.map((r) => r.id)).toEqual(scenarios);
    for (const r of report.results) {
      expect(r.error).toBeUndefined();
      expect(r.checks.length).toBeGreaterThan(0);
      expect(r.checks.filter((c) => !c.ok)).toEqual([]);
      expect(r.rows.length).toBeGreaterThan(0);
      // Every scenario measured something, ours and (where there is one) the reference.
      expect(r.rows.some((row) => typeof row.ours === 'number')).toBe(true);
    }
    const idle = report.results[0].rows.find((row) => row.metric === 'heartbeats/s');
    expect(idle?.ours).toBeGreaterThan(0);
    expect(idle?.reference).toBeGreaterThan(0);
    // The table is printed.
    expect(output).toContain('pass/fail');
  }, 600_000);
});
