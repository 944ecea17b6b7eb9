/**
 * The dashboard's scopes, admin pages and secrets in a real browser (Debian's Chromium driven by
 * playwright-core) against the real orchestrator (dist/):
 * - a read-only API token sees every list but no Submit, Cancel, namespace or secret change,
 *   runner action or admin page;
 * - a write token submits (with an image, shown on the run's page) and cancels, and has no admin
 *   page; a namespace-bound token sees its namespace only;
 * - ADMIN_TOKEN creates an API token (its value shown once, with Copy, gone after a reload) and
 *   revokes it, creates and revokes a registration token, finds those actions in the audit log,
 *   sets a secret (the value never in the page afterwards), uses it in a run and deletes it, sees a
 *   runner's container engine and rotates its token.
 *
 * No runner process is needed (runs stay waiting; a scripted runner reports container facts).
 * Runs on both databases (about half a minute each). Without /usr/bin/chromium it is skipped
 * LOUDLY, and fails when CI=true.
 */
import type { Page } from 'playwright-core';
import { browserOrSkip, launchBrowser, type TestBrowser } from './support/browser';
import { TestRunner } from './support/protocol';
import { ADMIN_TOKEN, databaseKind, eventually, REGISTRATION_TOKEN, startPulse, type TestPulse } from './support/pulse';

const FACTS = { engine: 'podman', version: '4.3.1', apiVersion: '1.41', os: 'linux', arch: 'amd64', healthy: true };
const SECRET_VALUE = 'dashboard-secret-value-7f3a9c';
const IMAGE = 'alpine:3.20';

const run = browserOrSkip(`dashboard-admin.e2e-spec (${databaseKind()})`) ? describe : describe.skip;

run('the dashboard by scope: admin pages and secrets', () => {
  let pulse: TestPulse;
  let browser: TestBrowser;
  let page: Page;
  let readToken: string;
  let writeToken: string;
  let boundToken: string;
  let runner: TestRunner;
  /** A waiting run and its batch, submitted by the admin over the API. */
  let waitingRun: string;
  let waitingBatch: string;

  beforeAll(async () => {
    pulse = await startPulse({ HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '2' });
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'team', repositories: ['https://example.com/team.git'] }).expect(201);
    readToken = (await pulse.http.post('/api/tokens').set(pulse.admin).send({ name: 'reader', scopes: ['read'] }).expect(201)).body.token;
    writeToken = (await pulse.http.post('/api/tokens').set(pulse.admin).send({ name: 'writer', scopes: ['write'] }).expect(201)).body.token;
    boundToken = (await pulse.http.post('/api/tokens').set(pulse.admin).send({ name: 'team-only', scopes: ['read'], namespaces: ['team'] }).expect(201))
      .body.token;
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'other', repositories: [] }).expect(201);
    const sub = await pulse.http.post('/api/runs').set(pulse.admin).send({ namespace: 'team', script: 'true', labels: ['nobody-has-this'] }).expect(201);
    waitingBatch = sub.body.batch_id;
    waitingRun = sub.body.runs[0];
    runner = await TestRunner.register(pulse, { name: 'engine-runner', container: FACTS, executors: ['shell', 'container'], defaultImage: 'debian:12' });
    browser = await launchBrowser();
    page = browser.page;
    page.setDefaultTimeout(30000);
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: pulse.url });
  }, 90000);

  afterAll(async () => {
    await browser?.close();
    await pulse?.close();
  }, 60000);

  async function signInWith(token: string): Promise<void> {
    await page.goto(`${pulse.url}/`);
    await page.evaluate('sessionStorage.clear()');
    await page.reload();
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
  }

  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
  const count = (role: 'button' | 'link', name: string) => page.getByRole(role, { name, exact: true }).count();

  it('signs in with a read-only API token: every list, no change, no admin page', async () => {
    await signInWith(readToken);
    for (const name of ['Overview', 'Runs', 'Batches', 'Runners', 'Namespaces']) await nav(name).waitFor();
    expect(await nav('Tokens').count()).toBe(0);
    expect(await nav('Registration tokens').count()).toBe(0);
    expect(await nav('Audit').count()).toBe(0);
    expect(await count('link', 'New run')).toBe(0);
    await page.getByText('reader · read').waitFor();

    await nav('Namespaces').click();
    await page.getByRole('cell', { name: 'team', exact: true }).waitFor();
    expect(await count('button', 'Create')).toBe(0);
    expect(await count('button', 'Edit team')).toBe(0);
    expect(await count('button', 'Delete team')).toBe(0);

    await page.goto(`${pulse.url}/runs/${waitingRun}`);
    await eventually(async () => (await page.locator('[data-field=state]').textContent()) === 'waiting');
    expect(await count('button', 'Cancel')).toBe(0);
    await page.goto(`${pulse.url}/batches/${waitingBatch}`);
    await page.getByRole('heading', { name: /Batch/ }).waitFor();
    await page.locator('[data-count=waiting]').filter({ hasText: '1' }).waitFor();
    expect(await count('button', 'Cancel batch')).toBe(0);

    await page.goto(`${pulse.url}/runners/${runner.id}`);
    await page.locator('[data-field=container]').filter({ hasText: 'podman' }).waitFor();
    for (const name of ['Disable', 'Enable', 'Deregister', 'Rotate token']) expect(await count('button', name)).toBe(0);

    await page.goto(`${pulse.url}/namespaces/team/secrets`);
    await page.getByText('This namespace has no secret yet.').waitFor();
    expect(await count('button', 'Save secret')).toBe(0);

    // A page the token may not use says so in words.
    await page.goto(`${pulse.url}/tokens`);
    await page.getByText('This page needs a token with the admin scope').waitFor();
    await page.goto(`${pulse.url}/runs/new`);
    await page.getByText('This page needs a token with the write scope').waitFor();
    expect(await count('button', 'Submit')).toBe(0);
  });

  it('signs in with a write token: submits a run with an image, shown on its page, cancels it; no admin page', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').fill(writeToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Still on /runs/new, which this token may use.
    await page.getByText('writer · write').waitFor();
    await page.getByRole('heading', { name: 'New run' }).waitFor();
    await page.getByRole('button', { name: 'Submit' }).waitFor();
    expect(await nav('Tokens').count()).toBe(0);
    expect(await nav('Audit').count()).toBe(0);

    await page.getByRole('link', { name: 'New run' }).click();
    await page.getByLabel('Namespace').selectOption('team');
    await page.getByLabel('Script').fill('echo in a container');
    await page.getByLabel(/^Image/).fill(IMAGE);
    await page.getByLabel('Labels (comma separated)').fill('nobody-has-this');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForURL(/\/batches\/[0-9a-f-]{36}$/);
    const batch = await pulse.http.get(`/api/batches/${page.url().split('/').pop()}`).set(pulse.admin).expect(200);
    const id = batch.body.run_waiting[0] as string;
    expect((await pulse.http.get(`/api/runs/${id}`).set(pulse.admin).expect(200)).body.image).toBe(IMAGE);
    await page.locator(`a[href="/runs/${id}"]`).click();
    await page.locator('[data-field=image]').filter({ hasText: IMAGE }).waitFor();
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await eventually(async () => (await page.locator('[data-field=state]').textContent()) === 'canceled');

    await page.goto(`${pulse.url}/runners/${runner.id}`);
    await page.locator('[data-field=container]').waitFor();
    expect(await count('button', 'Disable')).toBe(0);
    await page.goto(`${pulse.url}/audit`);
    await page.getByText('This page needs a token with the admin scope').waitFor();
  });

  it("signs in with a namespace-bound token: its namespace only, another's answer shown in words", async () => {
    await signInWith(boundToken);
    await page.getByText('team-only · read · team').waitFor();
    await nav('Namespaces').click();
    await page.getByRole('cell', { name: 'team', exact: true }).waitFor();
    expect(await page.getByRole('cell', { name: 'other', exact: true }).count()).toBe(0);
    await page.goto(`${pulse.url}/namespaces/other/secrets`);
    await page.getByRole('alert').filter({ hasText: 'HTTP 404' }).waitFor();
  });

  let tokenValue: string;

  it('as the admin: creates an API token, shown once with Copy, gone after a reload', async () => {
    await signInWith(ADMIN_TOKEN);
    await page.getByText('Admin token · admin').waitFor();
    await nav('Tokens').click();
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    await page.getByRole('cell', { name: 'reader', exact: true }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('ci bot');
    await page.getByLabel(/^read:/).uncheck();
    await page.getByLabel(/^write:/).check();
    await page.getByLabel('Namespaces (comma separated; empty: every namespace)').fill('team');
    await page.getByLabel('Expires in (days)').fill('30');
    await page.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByRole('region', { name: 'New token ci bot' });
    await shown.getByText('it is shown only once').waitFor();
    tokenValue = await shown.getByRole('textbox').inputValue();
    expect(tokenValue).toMatch(/^pulse_pat_/);
    await shown.getByRole('button', { name: 'Copy' }).click();
    await shown.getByRole('status').waitFor();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(tokenValue);

    const row = page.locator('tr', { has: page.getByRole('cell', { name: 'ci bot', exact: true }) });
    await row.getByRole('cell', { name: 'write', exact: true }).waitFor();
    await row.getByRole('cell', { name: 'team', exact: true }).waitFor();
    const who = await pulse.http.get('/api/whoami').set({ Authorization: `Bearer ${tokenValue}` }).expect(200);
    expect(who.body).toMatchObject({ name: 'ci bot', scopes: ['write'], namespaces: ['team'] });

    await page.reload();
    await page.getByRole('cell', { name: 'ci bot', exact: true }).waitFor();
    expect(await page.getByRole('region', { name: 'New token ci bot' }).count()).toBe(0);
    expect(await page.content()).not.toContain(tokenValue);
  });

  it('revokes the API token after a confirmation', async () => {
    await page.getByRole('button', { name: 'Revoke ci bot' }).click();
    const dialog = page.getByRole('alertdialog', { name: 'Confirm revocation' });
    await dialog.getByRole('button', { name: 'Keep it' }).click();
    expect(await dialog.count()).toBe(0);
    await pulse.http.get('/api/whoami').set({ Authorization: `Bearer ${tokenValue}` }).expect(200);
    await page.getByRole('button', { name: 'Revoke ci bot' }).click();
    await dialog.getByRole('button', { name: 'Yes, revoke' }).click();
    await page.getByRole('status').filter({ hasText: 'Revoked token ci bot.' }).waitFor();
    const row = page.locator('tr', { has: page.getByRole('cell', { name: 'ci bot', exact: true }) });
    await row.locator('.state-revoked').waitFor();
    expect(await count('button', 'Revoke ci bot')).toBe(0);
    await pulse.http.get('/api/whoami').set({ Authorization: `Bearer ${tokenValue}` }).expect(401);
  });

  it('creates a registration token (shown once), a runner registers with it, then revokes it', async () => {
    await nav('Registration tokens').click();
    await page.getByRole('heading', { name: 'Registration tokens' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('team hosts');
    await page.getByLabel('Labels (comma separated)').fill('linux, team');
    await page.getByLabel('Namespaces (comma separated; empty: every namespace)').fill('team');
    await page.getByLabel('Max uses (empty: unlimited)').fill('2');
    await page.getByRole('button', { name: 'Create registration token' }).click();
    const shown = page.getByRole('region', { name: 'New registration token team hosts' });
    const value = await shown.getByRole('textbox').inputValue();
    expect(value).toMatch(/^pulse_reg_/);
    const row = page.locator('tr', { has: page.getByRole('cell', { name: 'team hosts', exact: true }) });
    await row.getByRole('cell', { name: 'linux, team', exact: true }).waitFor();
    await row.getByRole('cell', { name: '0 of 2', exact: true }).waitFor();

    const reg = await pulse.http.post('/api/runner/registration').send({ token: value, name: 'team-1' }).expect(201);
    const r = await pulse.http.get(`/api/runners/${reg.body.runner_id}`).set(pulse.admin).expect(200);
    expect(r.body.namespaces).toEqual(['team']);

    await shown.getByRole('button', { name: 'Done' }).click();
    expect(await shown.count()).toBe(0);
    await page.getByRole('button', { name: 'Revoke team hosts' }).click();
    await page.getByRole('alertdialog', { name: 'Confirm revocation' }).getByRole('button', { name: 'Yes, revoke' }).click();
    await page.getByRole('status').filter({ hasText: 'Revoked registration token team hosts.' }).waitFor();
    await row.locator('.state-revoked').waitFor();
    await row.getByRole('cell', { name: '1 of 2', exact: true }).waitFor();
    await pulse.http.post('/api/runner/registration').send({ token: value, name: 'team-2' }).expect(401);
    // The runner page shows the namespaces it is bound to.
    await page.goto(`${pulse.url}/runners/${reg.body.runner_id}`);
    await page.getByRole('definition').filter({ hasText: /^team$/ }).waitFor();
  });

  it('sets a secret (the value never in the page afterwards), uses it in a run, deletes it', async () => {
    await nav('Namespaces').click();
    await page.getByRole('link', { name: 'Secrets of team' }).click();
    await page.waitForURL('**/namespaces/team/secrets');
    await page.getByRole('navigation', { name: 'Namespace' }).getByRole('link', { name: 'Secrets' }).and(page.locator('[aria-current=page]')).waitFor();
    await page.getByLabel('Secret name').fill('DEPLOY_KEY');
    const valueField = page.getByLabel('Value');
    expect(await valueField.getAttribute('type')).toBe('password');
    await valueField.fill(SECRET_VALUE);
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved secret DEPLOY_KEY.' }).waitFor();
    await page.getByRole('cell', { name: 'DEPLOY_KEY', exact: true }).waitFor();
    expect(await valueField.inputValue()).toBe('');
    expect(await page.content()).not.toContain(SECRET_VALUE);
    expect(await page.locator('input, textarea').evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value))).not.toContain(
      SECRET_VALUE,
    );
    const listed = await pulse.http.get('/api/namespaces/team/secrets').set(pulse.admin).expect(200);
    expect(listed.body.map((s: { name: string }) => s.name)).toEqual(['DEPLOY_KEY']);

    // The new-run form offers it by name; the run's page lists it.
    await page.getByRole('link', { name: 'New run' }).click();
    await page.getByLabel('Namespace').selectOption('team');
    await page.getByLabel('DEPLOY_KEY').check();
    await page.getByLabel('Labels (comma separated)').fill('nobody-has-this');
    await page.getByRole('button', { name: 'Submit' }).click();
    await page.waitForURL(/\/batches\/[0-9a-f-]{36}$/);
    const batch = await pulse.http.get(`/api/batches/${page.url().split('/').pop()}`).set(pulse.admin).expect(200);
    const id = batch.body.run_waiting[0] as string;
    expect((await pulse.http.get(`/api/runs/${id}`).set(pulse.admin).expect(200)).body.secrets).toEqual(['DEPLOY_KEY']);
    await page.goto(`${pulse.url}/runs/${id}`);
    await page.getByRole('definition').filter({ hasText: 'DEPLOY_KEY' }).waitFor();
    expect(await page.content()).not.toContain(SECRET_VALUE);
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await eventually(async () => (await page.locator('[data-field=state]').textContent()) === 'canceled');

    await page.goto(`${pulse.url}/namespaces/team/secrets`);
    await page.getByRole('button', { name: 'Delete DEPLOY_KEY' }).click();
    await page.getByRole('alertdialog', { name: 'Confirm deletion' }).getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByRole('status').filter({ hasText: 'Deleted secret DEPLOY_KEY.' }).waitFor();
    await page.getByText('This namespace has no secret yet.').waitFor();
    expect((await pulse.http.get('/api/namespaces/team/secrets').set(pulse.admin).expect(200)).body).toEqual([]);
  });

  it("shows a runner's container engine, executors and default image, and rotates its token", async () => {
    await page.goto(`${pulse.url}/runners/${runner.id}`);
    const engine = page.locator('[data-field=container]');
    await engine.filter({ hasText: 'podman · 4.3.1 · API 1.41 · linux/amd64' }).waitFor();
    await engine.getByText('healthy', { exact: true }).waitFor();
    expect(await page.locator('[data-field=executors]').textContent()).toBe('shell, container');
    await page.getByRole('definition').filter({ hasText: 'debian:12' }).waitFor();
    await page.getByRole('button', { name: 'Rotate token' }).click();
    await page.getByRole('status').filter({ hasText: 'offers the runner a new token' }).waitFor();
    const hb = await runner.heartbeat();
    expect((hb as { token?: { value?: string } }).token?.value).toMatch(/^pulse_rt_/);
  });

  it('lists those actions in the audit log, newest first, paginated, filtered by action and time', async () => {
    await nav('Audit').click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    for (const action of ['token.created', 'token.revoked', 'registration_token.created', 'registration_token.revoked', 'secret.set', 'secret.deleted']) {
      await page.locator(`tr[data-action="${action}"]`).first().waitFor();
    }
    const actions = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
    // Newest first: the secret was deleted after the token was revoked.
    expect(actions.indexOf('secret.deleted')).toBeLessThan(actions.indexOf('token.revoked'));
    const revoked = page.locator('tr[data-action="token.revoked"]');
    await revoked.getByText('ADMIN_TOKEN').waitFor();
    await revoked.getByText(/127\.0\.0\.1/).waitFor();

    // Pages of 50: 50 more entries make an older page.
    for (let i = 0; i < 5; i++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) => pulse.http.post('/api/tokens').set(pulse.admin).send({ name: `bulk ${i * 10 + j}`, scopes: ['read'] }).expect(201)),
      );
    }
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('tbody tr').first().filter({ hasText: 'bulk' }).waitFor();
    expect(await page.locator('tbody tr').count()).toBe(50);
    await page.getByRole('button', { name: 'Older' }).click();
    await page.waitForURL(/\/audit\?cursor=/);
    await page.locator('tr[data-action="namespace.put"]').first().waitFor(); // the oldest entries
    expect(await page.locator('tbody tr').count()).toBeLessThan(50);
    await page.getByRole('button', { name: 'Newest' }).click();
    await page.waitForURL(/\/audit$/);
    await page.locator('tbody tr').first().filter({ hasText: 'bulk' }).waitFor();

    await page.getByLabel('Action').selectOption('token.revoked');
    await page.waitForURL('**/audit?action=token.revoked');
    await eventually(async () => {
      const shown = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
      return shown.length === 1 && shown[0] === 'token.revoked';
    });
    await page.getByLabel('Since').fill('2099-01-01T00:00');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('No entry matches.').waitFor();
    expect(new URL(page.url()).searchParams.get('since')).toMatch(/^2099-01-01T/);
  });

  it('ran without a page error or a Content-Security-Policy violation, and no token in a URL', () => {
    const serious = browser.problems.filter((p) => p.startsWith('pageerror') || /Content Security Policy/i.test(p));
    expect(serious).toEqual([]);
    for (const t of [readToken, writeToken, boundToken, ADMIN_TOKEN, REGISTRATION_TOKEN]) expect(page.url()).not.toContain(t);
  });
});
