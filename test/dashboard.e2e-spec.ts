/**
 * The dashboard in a real browser (Debian's Chromium driven by playwright-core) against the real
 * orchestrator (dist/, which serves the built web app) and the real runner process on a real git
 * repository: sign in, create a namespace, submit from /runs/new, watch the run go
 * waiting → running → finished without a reload while its coloured log streams in, cancel a run
 * from its page, disable a runner, reload a deep link, open a log over 1 MiB on its tail and load
 * the rest, download it, sign out.
 *
 * Runs on both databases (under a minute each). Without /usr/bin/chromium it is skipped LOUDLY, and
 * fails when CI=true.
 *
 * UPDATE_SCREENSHOTS=1 also writes docs/screenshots/{overview,run-log}.png for the README.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { browserOrSkip, launchBrowser, type TestBrowser } from './support/browser';
import { TestRunner, submit } from './support/protocol';
import { ADMIN_TOKEN, databaseKind, eventually, startPulse, type TestPulse } from './support/pulse';
import {
  cleanupRunner,
  freePort,
  getRun,
  makeGitRepo,
  registerRunner,
  startRunner,
  type RegisteredRunner,
  type RunnerProcess,
} from './support/runner';

const FAST = { HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '2', RUNNER_DEAD_AFTER: '15', CANCEL_GRACE: '30' };
const SCREENSHOTS = resolve(__dirname, '../docs/screenshots');
const XSS = '<img src=x onerror=alert(1)>';

/** The run's script: colours, an HTML-looking line, a \r progress bar, then a slow tail to follow live. */
const SCRIPT = [
  'echo "building $(basename "$PWD")"',
  "printf '\\033[31mred text\\033[0m and \\033[1;32mbold green\\033[0m\\n'",
  "printf '\\033[38;5;208m256-colour orange\\033[0m\\n'",
  `echo '${XSS}'`,
  'for i in 1 2 3 4 5; do printf "progress $i/5\\r"; sleep 0.1; done; printf "progress done\\n"',
  "printf '\\033[1;34m==>\\033[0m \\033[1mInstalling dependencies\\033[0m\\n'",
  "printf '\\033[33mwarning\\033[0m deprecated package left-pad@1.0.0\\n'",
  "printf '\\033[32m✓\\033[0m 42 tests passed, \\033[90m3 skipped\\033[0m\\n'",
  'for i in $(seq 1 40); do echo "tick $i"; [ -f "$STOP_FILE" ] && break; sleep 0.25; done',
  "printf '\\033[1;32mall good\\033[0m\\n'",
].join('\n');

const run = browserOrSkip(`dashboard.e2e-spec (${databaseKind()})`) ? describe : describe.skip;

run('the dashboard in a browser', () => {
  let pulse: TestPulse;
  let runner: RegisteredRunner;
  let runnerProc: RunnerProcess | undefined;
  let browser: TestBrowser;
  let page: Page;
  let repo: string;
  /** Every request the page made to the event feed. */
  const feedRequests: string[] = [];
  let feedRequestsBefore = 0;
  /** Every live log follow the page opened: URL and content type. */
  const follows: string[] = [];
  const stopFile = join(tmpdir(), `pulse-dashboard-stop-${process.pid}`);

  beforeAll(async () => {
    rmSync(stopFile, { force: true });
    // A fixed port: the page must find the orchestrator again after the restart test.
    pulse = await startPulse({ ...FAST, PORT: String(await freePort()) });
    repo = makeGitRepo({ 'README.md': '# web test\n' });
    runner = await registerRunner(pulse, { name: 'browser-runner', labels: ['linux'] });
    browser = await launchBrowser();
    page = browser.page;
    page.setDefaultTimeout(30000);
    page.on('request', (req) => {
      if (req.url().includes('/api/events')) feedRequests.push(req.url());
    });
    page.on('response', (res) => {
      if (/\/api\/runs\/[^/]+\/logs\?.*follow=1/.test(res.url())) follows.push(`${res.url()} ${res.headers()['content-type'] ?? ''}`);
    });
  }, 90000);

  afterAll(async () => {
    await browser?.close();
    await runnerProc?.stop();
    if (runner) cleanupRunner(runner);
    if (repo) rmSync(repo, { recursive: true, force: true });
    rmSync(stopFile, { force: true });
    await pulse?.close();
  }, 60000);

  const stateOnPage = (): Promise<string | null> => page.locator('[data-field=state]').textContent();

  it('serves the app with its security headers, and keeps the API JSON', async () => {
    const html = await pulse.http.get('/runs/00000000-0000-0000-0000-000000000000').expect(200);
    expect(html.headers['content-type']).toMatch(/text\/html/);
    expect(html.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(html.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(html.headers['content-security-policy']).not.toMatch(/unsafe-inline/);
    expect(html.headers['x-content-type-options']).toBe('nosniff');
    expect(html.headers['cache-control']).toBe('no-cache');
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html.text)![1];
    const js = await pulse.http.get(asset).expect(200);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const missing = await pulse.http.get('/api/no-such-thing').set(pulse.admin).expect(404);
    expect(missing.headers['content-type']).toMatch(/application\/json/);
    expect(missing.body.statusCode).toBe(404);
    const docs = await pulse.http.get('/api/docs').expect(200);
    expect(docs.headers['content-security-policy']).toBeUndefined(); // Swagger UI keeps its inline scripts
  });

  it('leaves Swagger UI working (it has inline scripts, and no dashboard CSP)', async () => {
    await page.goto(`${pulse.url}/api/docs`);
    await page.locator('.opblock-tag', { hasText: 'runs' }).first().waitFor();
  });

  it('refuses a wrong token in words, then signs in', async () => {
    await page.goto(`${pulse.url}/`);
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'refused' }).waitFor();
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    for (const name of ['Overview', 'Runs', 'Batches', 'Runners', 'Namespaces']) {
      await page.getByRole('navigation').getByRole('link', { name, exact: true }).waitFor();
    }
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    expect(await page.evaluate("sessionStorage.getItem('pulse.token')")).toBe(ADMIN_TOKEN);
    expect(page.url()).not.toContain(ADMIN_TOKEN);
  });

  it('creates a namespace from its page', async () => {
    feedRequestsBefore = feedRequests.length;
    expect(feedRequestsBefore).toBe(1); // one connection for the tab
    await page.getByRole('link', { name: 'Namespaces', exact: true }).click();
    await page.getByLabel('Name').fill('web');
    await page.getByLabel('Repositories (one per line)').fill(repo);
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('cell', { name: 'web', exact: true }).waitFor();
    const ns = await pulse.http.get('/api/namespaces/web').set(pulse.admin).expect(200);
    expect(ns.body.repositories).toEqual([repo]);
  });

  let runId: string;

  it('submits from /runs/new and lands on the batch; the run waits with no runner', async () => {
    await page.getByRole('link', { name: 'New run' }).click();
    await page.getByLabel('Namespace').selectOption('web');
    await page.getByLabel('Script').fill(SCRIPT);
    await page.getByLabel('Environment (NAME=value, one per line)').fill(`STOP_FILE=${stopFile}`);
    await page.getByLabel('Labels (comma separated)').fill('linux');
    await page.getByLabel('Timeout (seconds)').fill('120');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForURL(/\/batches\/[0-9a-f-]{36}$/);
    await page.getByRole('heading', { name: /Batch/ }).waitFor();
    const batchId = page.url().split('/').pop()!;
    const batch = await pulse.http.get(`/api/batches/${batchId}`).set(pulse.admin).expect(200);
    expect(batch.body.run_waiting).toHaveLength(1);
    runId = batch.body.run_waiting[0];
    await page.locator(`a[href="/runs/${runId}"]`).click();
    await page.waitForURL(`**/runs/${runId}`);
    await eventually(async () => (await stateOnPage()) === 'waiting');
    await page.evaluate('window.noReload = true');
    // Four pages later, still the one feed connection: pages share it.
    expect(feedRequests.length).toBe(feedRequestsBefore);
  });

  it('shows waiting → running → finished and follows the coloured log live, without a reload', async () => {
    runnerProc = startRunner(runner);
    await eventually(async () => (await stateOnPage()) === 'running', 30000, 100);
    const log = page.getByRole('log');
    // Lines arrive while the run is still running: the follow is live.
    await log.getByText('tick 2', { exact: true }).waitFor();
    expect(await stateOnPage()).toBe('running');
    // Colours are styles, never raw escape codes.
    const red = log.locator('span.f1', { hasText: 'red text' });
    await red.waitFor();
    expect(await red.evaluate((el) => el.ownerDocument.defaultView!.getComputedStyle(el).color)).toBe('rgb(224, 108, 117)');
    const green = log.locator('span.f2.bold', { hasText: 'bold green' });
    expect(await green.evaluate((el) => el.ownerDocument.defaultView!.getComputedStyle(el).fontWeight)).toBe('700');
    const orange = log.locator('span', { hasText: '256-colour orange' }).last();
    expect(await orange.evaluate((el) => el.ownerDocument.defaultView!.getComputedStyle(el).color)).toBe('rgb(255, 135, 0)');
    expect(await log.textContent()).not.toContain('\x1b');
    expect(await log.textContent()).not.toContain('[31m');
    // The HTML-looking line is text.
    await log.getByText(XSS, { exact: true }).waitFor();
    expect(await log.locator('img').count()).toBe(0);
    // The \r progress collapsed to its last state.
    await log.getByText('progress done', { exact: true }).waitFor();
    expect(await log.getByText(/progress \d\/5/).count()).toBe(0);

    if (process.env.UPDATE_SCREENSHOTS === '1') {
      await log.getByText('tick 12', { exact: true }).waitFor();
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, 'run-log.png'), fullPage: true });
    }

    writeFileSync(stopFile, 'stop');
    await eventually(async () => (await stateOnPage()) === 'finished', 40000, 100);
    await log.getByText('all good', { exact: true }).waitFor();
    expect(await page.evaluate('window.noReload')).toBe(true);
    // The live log came over the SSE follow (SPEC 8), not the plain chunked one.
    const mine = follows.filter((f) => f.includes(runId));
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.filter((f) => !f.includes(' text/event-stream'))).toEqual([]);
    // Line numbers link to #L<n>.
    await log.getByRole('link', { name: 'Line 3' }).click();
    await page.waitForURL(`**/runs/${runId}#L3`);
    expect(await page.locator('.log-line.target').textContent()).toContain('256-colour orange');
  });

  it('searches the log', async () => {
    await page.getByRole('searchbox', { name: 'Search log' }).fill('tick');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.locator('.log-line.match.current').filter({ hasText: 'tick 1' }).waitFor();
    await page.getByRole('log').locator('mark', { hasText: 'tick' }).first().waitFor();
  });

  it('reloads a deep link onto the same page, still signed in', async () => {
    await page.goto(`${pulse.url}/runs/${runId}`);
    await page.getByRole('heading', { name: /Run/ }).waitFor();
    await eventually(async () => (await stateOnPage()) === 'finished');
    await page.reload();
    await eventually(async () => (await stateOnPage()) === 'finished');
    await page.getByRole('log').getByText('all good', { exact: true }).waitFor();
  });

  it('cancels a running run from its page', async () => {
    rmSync(stopFile, { force: true });
    const res = await pulse.http
      .post('/api/runs')
      .set(pulse.admin)
      .send({ namespace: 'web', script: 'echo started; sleep 60', labels: ['linux'] })
      .expect(201);
    const id = res.body.runs[0] as string;
    await page.goto(`${pulse.url}/runs/${id}`);
    await eventually(async () => (await stateOnPage()) === 'running', 30000, 100);
    await page.getByRole('log').getByText('started', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await eventually(async () => (await stateOnPage()) === 'canceled', 30000, 100);
    expect((await getRun(pulse, id)).state).toBe('canceled');
    await expectNoButton(page, 'Cancel');
  });

  it('shows the overview with runners and runs by state, and disables a runner', async () => {
    await page.getByRole('link', { name: 'Overview', exact: true }).click();
    await page.locator('[data-count=runs-finished]').filter({ hasText: '1' }).waitFor();
    await page.locator('[data-count=runs-canceled]').filter({ hasText: '1' }).waitFor();
    await page.locator('[data-count=runners-waiting]').filter({ hasText: '1' }).waitFor();
    await page.getByRole('link', { name: 'Runners', exact: true }).click();
    await page.getByRole('link', { name: 'browser-runner' }).click();
    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByRole('button', { name: 'Enable' }).waitFor();
    await eventually(async () => {
      const r = await pulse.http.get(`/api/runners/${runner.id}`).set(pulse.admin).expect(200);
      return r.body.enabled === false;
    });
    await page.getByRole('button', { name: 'Enable' }).click();
    await page.getByRole('button', { name: 'Disable' }).waitFor();
  });

  it('shows reconnecting while the orchestrator restarts, then catches up live', async () => {
    await page.getByRole('link', { name: 'Overview', exact: true }).click();
    const indicator = page.getByRole('status').filter({ hasText: /Live|Connecting|Reconnecting/ });
    await indicator.filter({ hasText: 'Live' }).waitFor();
    await page.evaluate('window.noReload = "restart"');
    // Every text the indicator shows (a short "Reconnecting…" is easy to miss by polling).
    await page.evaluate(`(() => {
      const el = document.querySelector('[role=status].live');
      window.statuses = [el.textContent];
      new MutationObserver(() => window.statuses.push(el.textContent)).observe(el, { subtree: true, childList: true, characterData: true });
    })()`);
    await pulse.restart();
    await pulse.http
      .post('/api/runs')
      .set(pulse.admin)
      .send({ namespace: 'web', script: 'true', labels: ['no-such-label'] })
      .expect(201);
    await indicator.filter({ hasText: 'Live' }).waitFor({ timeout: 45000 });
    await page.locator('[data-count=runs-waiting]').filter({ hasText: '1' }).waitFor();
    await page.getByRole('cell', { name: /no-such-label|no runner/i }).first().waitFor();
    if (process.env.UPDATE_SCREENSHOTS === '1') {
      await page.screenshot({ path: join(SCREENSHOTS, 'overview.png') });
    }
    expect(await page.evaluate('window.noReload')).toBe('restart');
    expect(await page.evaluate('window.statuses')).toContain('Reconnecting…');
    await pulse.http.delete(`/api/batches/${(await pulse.http.get('/api/batches?limit=1').set(pulse.admin)).body.items[0].batch_id}`).set(pulse.admin).expect(200);
  });

  it('opens a log over 1 MiB on its tail, loads earlier lines, searches them and downloads the raw log', async () => {
    const lines = Array.from({ length: 16000 }, (_, i) => `big line ${i + 1}. ${'x'.repeat(80)}`);
    const text = lines.join('\n') + '\n';
    const { runs } = await submit(pulse, { namespace: 'big', script: 'true', labels: ['big'] });
    const fake = await TestRunner.register(pulse, { labels: ['big'] });
    const hb = await fake.heartbeat();
    expect(hb.run?.id).toBe(runs[0]);
    const bytes = Buffer.from(text);
    for (let offset = 0; offset < bytes.length; offset += 512 * 1024) {
      await fake.update(hb.run!, offset, bytes.subarray(offset, offset + 512 * 1024).toString('utf8')).expect(200);
    }
    await fake.complete(hb.run!, { status: 'finished', exitCode: 0, logBytes: bytes.length }).expect(200);

    await page.goto(`${pulse.url}/runs/${runs[0]}`);
    const log = page.getByRole('log');
    await log.getByText(lines[lines.length - 1], { exact: true }).waitFor();
    expect(await log.locator('.log-line').count()).toBeLessThan(500); // virtualized
    const search = page.getByRole('searchbox', { name: 'Search log' });
    await search.fill('big line 1.');
    await page.getByText('no match').waitFor(); // line 1 is before the tail
    await page.getByRole('button', { name: 'Load earlier' }).click();
    await expectNoButton(page, 'Load earlier');
    await page.getByText('1 of 1').or(page.getByText('0 of 1')).waitFor();
    await page.getByRole('button', { name: 'Next' }).click();
    await log.getByText(lines[0], { exact: true }).waitFor();

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download' }).click()]);
    const saved = await download.path();
    expect(readFileSync(saved).equals(bytes)).toBe(true);
  });

  it('deregisters a runner after a confirmation, and deletes a namespace', async () => {
    const fake = await TestRunner.register(pulse, { name: 'to-deregister' });
    await page.goto(`${pulse.url}/runners/${fake.id}`);
    await page.getByRole('button', { name: 'Deregister' }).click();
    await page.getByRole('alertdialog', { name: 'Confirm deregistration' }).waitFor();
    await page.getByRole('button', { name: 'Yes, deregister' }).click();
    await page.locator('.state-deregistered').waitFor();
    await fake.heartbeatRaw({ status: 'ready' }).expect(403);

    await page.getByRole('link', { name: 'Namespaces', exact: true }).click();
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Delete big' }).click();
    await page.getByRole('status').filter({ hasText: 'Deleted namespace big.' }).waitFor();
    await pulse.http.get('/api/namespaces/big').set(pulse.admin).expect(404);
  });

  it('signs out', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    expect(await page.evaluate("sessionStorage.getItem('pulse.token')")).toBeNull();
    await page.reload();
    await page.getByLabel('Admin token').waitFor();
  });

  it('ran without a page error or a Content-Security-Policy violation', () => {
    const serious = browser.problems.filter((p) => p.startsWith('pageerror') || /Content Security Policy/i.test(p));
    expect(serious).toEqual([]);
  });
});

async function expectNoButton(page: Page, name: string): Promise<void> {
  await eventually(async () => (await page.getByRole('button', { name, exact: true }).count()) === 0);
}
