import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from './lib/browser';
import { JsonClient } from './lib/http';
import { createDatabase } from './lib/pg';
import { ADMIN_TOKEN, ORCHESTRATOR_MAIN, REGISTRATION_TOKEN, orchestratorEnv, spawnServer } from './lib/server';
import { percentile, wallMs } from './lib/util';
import type { Ctx, Scenario } from './scenarios';

const CHUNK_BYTES = 512 * 1024;

/** A CI-looking log of `lines` lines with some colour, the last one unmistakable. */
function logText(lines: number): string {
  const out: string[] = [];
  for (let i = 1; i < lines; i++) {
    const status = i % 97 === 0 ? '\x1b[31mFAIL\x1b[0m' : '\x1b[32mok\x1b[0m';
    out.push(`step ${i} ${status} src/module_${i % 311}/file_${i % 7919}.ts compiled in ${(i * 37) % 5000} ms`);
  }
  out.push(`\x1b[1mthe last line, number ${lines}\x1b[0m`);
  return out.join('\n') + '\n';
}

/** A finished run whose log is `text`, written through the runner protocol as a runner would. */
async function finishedRunWithLog(http: JsonClient, text: string): Promise<string> {
  const put = await http.request('PUT', '/api/namespaces', { namespace_name: 'browser', repositories: ['https://example.com/b.git'] }, ADMIN_TOKEN);
  if (put.status >= 300) throw new Error(`PUT namespace answered ${put.status}`);
  const sub = await http.post('/api/runs', { namespace: 'browser', script: 'true' }, ADMIN_TOKEN);
  if (sub.status !== 201) throw new Error(`POST /api/runs answered ${sub.status}`);
  const reg = await http.post('/api/runner/registration', { token: REGISTRATION_TOKEN, name: 'bench-browser' });
  const runner = { id: reg.body.runner_id as string, token: reg.body.runner_token as string };
  const hb = await http.post('/api/runner/heartbeat', { id: runner.id, status: 'ready' }, runner.token);
  const run = hb.body?.heartbeat?.run;
  if (!run) throw new Error(`no assignment: ${JSON.stringify(hb.body)}`);
  const bytes = Buffer.from(text);
  let offset = 0;
  while (offset < bytes.length) {
    // Cut at a line end so every chunk is whole UTF-8 (the log is ASCII anyway).
    let end = Math.min(bytes.length, offset + CHUNK_BYTES);
    if (end < bytes.length) end = bytes.lastIndexOf(0x0a, end - 1) + 1;
    const logs = bytes.subarray(offset, end).toString('utf8');
    const up = await http.post(`/api/runner/runs/${run.id}/update`, { messageId: run.messageId, offset, logs }, runner.token);
    if (up.status !== 200) throw new Error(`update answered ${up.status}: ${JSON.stringify(up.body)}`);
    offset = end;
  }
  const done = await http.post(
    `/api/runner/complete/${runner.id}/${run.project}`,
    { messageId: run.messageId, result: { id: run.id, status: 'finished', exitCode: 0, logBytes: bytes.length } },
    runner.token,
  );
  if (done.status !== 200) throw new Error(`complete answered ${done.status}: ${JSON.stringify(done.body)}`);
  return run.id as string;
}

/**
 * 8. The dashboard's log viewer in Chromium: from page navigation to the last line of a
 * 100,000-line log on screen (the log opens on its tail: the last 1 MiB, rendered virtualized),
 * and the same with the whole log loaded and parsed (a link to its last line, #L100000).
 */
export async function browserLogOpen(ctx: Ctx, s: Scenario): Promise<void> {
  if (!existsSync(CHROMIUM)) {
    s.check(`Chromium at ${CHROMIUM}`, false, 'apt-get install -y chromium');
    return;
  }
  const lines = ctx.scale.mode === 'tiny' ? 20000 : 100000;
  const opens = ctx.scale.mode === 'full' ? 5 : 3;
  const profile = mkdtempSync(join(tmpdir(), 'pulse-bench-chromium-'));
  try {
    const db = await createDatabase('s8');
    s.defer(() => db.drop());
    const orch = await spawnServer(ORCHESTRATOR_MAIN, orchestratorEnv(db.url));
    s.defer(() => orch.stop());
    const http = new JsonClient(orch.url);
    s.defer(async () => http.close());
    const text = logText(lines);
    ctx.progress(`writing a ${lines.toLocaleString()}-line log (${(text.length / 2 ** 20).toFixed(1)} MiB)`);
    const runId = await finishedRunWithLog(http, text);

    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 900 } });
    s.defer(() => context.close());
    // Signed in on the orchestrator's pages (about:blank, between opens, has no storage).
    await context.addInitScript({ content: `if (location.protocol === 'http:') sessionStorage.setItem('pulse.token', ${JSON.stringify(ADMIN_TOKEN)})` });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const lastLine = `the last line, number ${lines}`;

    const measure = async (hash: string): Promise<{ times: number[]; rows: number }> => {
      const times: number[] = [];
      let rows = 0;
      for (let i = 0; i < opens; i++) {
        await page.goto('about:blank');
        const t = wallMs();
        await page.goto(`${orch.url}/runs/${runId}${hash}`);
        await page.getByRole('log').getByText(lastLine, { exact: true }).waitFor({ state: 'visible', timeout: 60000 });
        times.push(wallMs() - t);
        rows = await page.locator('[role=log] .log-line').count();
      }
      return { times, rows };
    };
    ctx.progress(`opening the run page ${opens} times`);
    const tail = await measure('');
    ctx.progress(`opening it ${opens} times at #L${lines} (whole log)`);
    const whole = await measure(`#L${lines}`);

    s.check('the last line shows, opened on the tail', tail.times.length === opens, `${tail.times.length} of ${opens}`);
    s.check('the last line shows with the whole log loaded', whole.times.length === opens, `${whole.times.length} of ${opens}`);
    s.check('only the visible lines are in the DOM', whole.rows > 0 && whole.rows < 500, `${whole.rows} line elements for ${lines} lines`);
    s.check('no page error', errors.length === 0, errors.slice(0, 3).join('; '));
    s.row({ metric: `time to the last line of a ${lines.toLocaleString()}-line log (opens on the tail), median`, unit: 'ms', ours: percentile(tail.times, 50), reference: null, referenceName: '', target: '≤ 1000 ms', check: (o) => o <= 1000 });
    s.row({ metric: `same, whole log loaded and parsed (#L${lines}), median`, unit: 'ms', ours: percentile(whole.times, 50), reference: null, referenceName: '', target: '—' });
    s.raw.ours = { lines, bytes: text.length, tailMs: tail.times, wholeMs: whole.times, domLines: whole.rows };
  } finally {
    await s.cleanup();
    rmSync(profile, { recursive: true, force: true });
  }
}
