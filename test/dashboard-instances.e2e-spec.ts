/**
 * The dashboard's instances and workloads pages (SPEC sections 8 and 10) in a real browser
 * (Debian's Chromium driven by playwright-core) against the real orchestrator (dist/), with a
 * runner scripted over HTTP (no container engine needed: it reports what a runner would):
 * - a read-only token sees the instances, no Start, Stop, Delete or New instance;
 * - an instance made over the API shows SCHEDULING with why, then SCHEDULED, STARTING and
 *   RUNNING with its address and published port as the scripted runner reports them, without a
 *   reload (the feed's `instance` events);
 * - Stop from the list sends the PATCH and shows STOPPING, then STOPPED once reported; Start
 *   again; Delete (after a confirmation) shows DESTROYING, then TERMINATED;
 * - /instances/new makes an inline instance (a bad port is refused next to the input, which
 *   keeps what was typed), its page shows every field and goes RUNNING live; the runner's page
 *   lists it; /workloads creates a workload, makes an instance of it, refuses (409, in words) to
 *   delete it while that instance lives, and deletes one whose instances are TERMINATED.
 *
 * Runs on both databases (under a minute each). Without /usr/bin/chromium it is skipped LOUDLY,
 * and fails when CI=true.
 */
import type { Page } from 'playwright-core';
import { browserOrSkip, launchBrowser, type TestBrowser } from './support/browser';
import { ENGINE, type HeartbeatBody, type InstanceReport, TestRunner } from './support/protocol';
import { databaseKind, eventually, startPulse, type TestPulse } from './support/pulse';

const run = browserOrSkip(`dashboard-instances.e2e-spec (${databaseKind()})`) ? describe : describe.skip;

run('the dashboard: instances and workloads', () => {
  let pulse: TestPulse;
  let browser: TestBrowser;
  let page: Page;
  let readToken: string;
  let writeToken: string;
  let workloadId: string;
  let instanceId: string;
  let runner: TestRunner;
  /** The latest desired list the scripted runner was given (generations come from it). */
  let desired: HeartbeatBody['instances'] = [];

  beforeAll(async () => {
    pulse = await startPulse({ HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '2', SWEEP_INTERVAL: '0.2', RUNNER_DEAD_AFTER: '120' });
    readToken = (await pulse.http.post('/api/tokens').set(pulse.admin).send({ name: 'reader', scopes: ['read'] }).expect(201)).body.token;
    writeToken = (await pulse.http.post('/api/tokens').set(pulse.admin).send({ name: 'writer', scopes: ['write'] }).expect(201)).body.token;
    const wl = await pulse.http
      .put('/api/workloads')
      .set(pulse.admin)
      .send({ name: 'web', uri: 'busybox:1.36', ports: ['8080'], labels: ['edge'], resources: { cpu: 1, memory: 64 }, environment: ['GREETING=hi'] })
      .expect(201);
    workloadId = wl.body.id;
    // No runner yet: it waits, and says why.
    const made = await pulse.http.put('/api/instances').set(pulse.admin).send({ workload_id: workloadId }).expect(201);
    expect(made.body.status).toBe('SCHEDULING');
    instanceId = made.body.id;
    browser = await launchBrowser();
    page = browser.page;
    page.setDefaultTimeout(30000);
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
  const row = (id: string) => page.locator(`tr[data-instance="${id}"]`);
  const statusOf = (id: string) => row(id).locator('.state');
  const getInstance = async (id: string) => (await pulse.http.get(`/api/instances/${id}`).set(pulse.admin).expect(200)).body;

  /** One heartbeat of the scripted runner, reporting `reports`; keeps the desired list it is given. */
  async function beat(reports: InstanceReport[]): Promise<HeartbeatBody> {
    const hb = await runner.heartbeat({ status: 'ready', runs: [], ...ENGINE, instances: reports });
    desired = hb.instances ?? [];
    return hb;
  }
  const generation = (id: string): number => {
    const want = desired?.find((d) => d.id === id);
    if (!want) throw new Error(`instance ${id} is not in the runner's desired list`);
    return want.generation;
  };

  /** A mark in the page's window: gone if the page reloaded. */
  const mark = () => page.evaluate('window.__noReload = true');
  const stillSamePage = async () => expect(await page.evaluate('window.__noReload === true')).toBe(true);

  it('a read-only token sees the instance waiting with why, and no action', async () => {
    await signInWith(readToken);
    await nav('Instances').click();
    await page.getByRole('heading', { name: 'Instances' }).waitFor();
    await statusOf(instanceId).filter({ hasText: 'SCHEDULING' }).waitFor();
    const reason = (await getInstance(instanceId)).pending_reason as string;
    expect(reason).toBeTruthy();
    await row(instanceId).locator('[data-field=why]').filter({ hasText: reason }).waitFor();
    await row(instanceId).getByRole('cell', { name: 'busybox:1.36', exact: true }).waitFor();
    for (const name of ['Start web', 'Stop web', 'Delete web']) expect(await page.getByRole('button', { name }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'New instance' }).count()).toBe(0);
    await page.goto(`${pulse.url}/instances/new`);
    await page.getByText('This page needs a token with the write scope').waitFor();
    await nav('Workloads').click();
    await page.getByRole('cell', { name: 'web', exact: true }).waitFor();
    expect(await page.getByRole('button', { name: 'Delete web' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Create workload' }).count()).toBe(0);
  });

  it('shows SCHEDULING, then RUNNING with its address and port as the scripted runner reports it, without a reload', async () => {
    await signInWith(writeToken);
    await nav('Instances').click();
    await statusOf(instanceId).filter({ hasText: 'SCHEDULING' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    await mark();

    // A runner with an engine and the label appears: the sweep places the instance on it.
    runner = await TestRunner.register(pulse, { ...ENGINE, labels: ['edge'], name: 'edge-1' });
    await beat([]);
    await statusOf(instanceId).filter({ hasText: 'SCHEDULED' }).waitFor();
    await row(instanceId).getByRole('link', { name: runner.id.slice(0, 8) }).waitFor();
    await eventually(async () => (await beat([])).instances?.some((d) => d.id === instanceId));
    await beat([{ id: instanceId, status: 'STARTING', generation: generation(instanceId) }]);
    await statusOf(instanceId).filter({ hasText: 'STARTING' }).waitFor();
    await beat([{ id: instanceId, status: 'RUNNING', ip: '10.0.0.5', ports: ['32768:8080'], description: 'up', generation: generation(instanceId) }]);
    await statusOf(instanceId).filter({ hasText: 'RUNNING' }).waitFor();
    await row(instanceId).locator('[data-field=ports]').filter({ hasText: '10.0.0.5:32768 → 8080' }).waitFor();
    await stillSamePage();
    expect(await row(instanceId).getByRole('button', { name: 'Start web' }).count()).toBe(0);

    // The overview counts instances by status, and links to the list filtered by one.
    await page.goto(`${pulse.url}/`);
    const running = page.locator('[data-count=instances-RUNNING]');
    await running.waitFor();
    expect(Number(await running.innerText())).toBeGreaterThanOrEqual(1);
    await page.locator('[aria-label="Instances by status"]').getByRole('link', { name: 'All instances' }).click();
    await statusOf(instanceId).filter({ hasText: 'RUNNING' }).waitFor();
    await mark(); // the tests after this one check that the list never reloads
  });

  it('Stop sends the PATCH: STOPPING, then STOPPED once reported; Start runs it again', async () => {
    const patch = page.waitForRequest((r) => r.method() === 'PATCH' && r.url().endsWith(`/api/instances/${instanceId}`));
    await row(instanceId).getByRole('button', { name: 'Stop web' }).click();
    expect((await patch).postDataJSON()).toEqual({ state: 'STOPPED' });
    await statusOf(instanceId).filter({ hasText: 'STOPPING' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Instance web asked to stop' }).waitFor();
    const hb = await beat([{ id: instanceId, status: 'RUNNING', ip: '10.0.0.5', ports: ['32768:8080'], generation: generation(instanceId) }]);
    expect(hb.instances?.find((d) => d.id === instanceId)?.state).toBe('STOPPED');
    await beat([{ id: instanceId, status: 'STOPPED', description: 'stopped', generation: generation(instanceId) }]);
    await statusOf(instanceId).filter({ hasText: 'STOPPED' }).waitFor();
    expect(await row(instanceId).getByRole('button', { name: 'Stop web' }).count()).toBe(0);

    await row(instanceId).getByRole('button', { name: 'Start web' }).click();
    await statusOf(instanceId).filter({ hasText: 'STARTING' }).waitFor();
    expect((await getInstance(instanceId)).state).toBe('RUNNING');
    await beat([{ id: instanceId, status: 'STOPPED', generation: generation(instanceId) }]);
    await beat([{ id: instanceId, status: 'RUNNING', ip: '10.0.0.5', ports: ['32768:8080'], generation: generation(instanceId) }]);
    await statusOf(instanceId).filter({ hasText: /^RUNNING$/ }).waitFor();
    await stillSamePage();

    // The status filter, in the URL.
    await page.getByLabel('Status').selectOption('STOPPED');
    await page.waitForURL(/\/instances\?state=STOPPED$/);
    await page.getByText('No instance is STOPPED.').waitFor();
    await page.getByLabel('Status').selectOption('RUNNING');
    await statusOf(instanceId).waitFor();
    await page.getByLabel('Status').selectOption('');
    await page.waitForURL(/\/instances$/);
  });

  it('Delete asks first, then DESTROYING, then TERMINATED once the runner removed it', async () => {
    await mark();
    await row(instanceId).getByRole('button', { name: 'Delete web' }).click();
    const dialog = page.getByRole('alertdialog', { name: 'Confirm deletion' });
    await dialog.getByRole('button', { name: 'Keep it' }).click();
    expect(await dialog.count()).toBe(0);
    expect((await getInstance(instanceId)).status).toBe('RUNNING');
    await row(instanceId).getByRole('button', { name: 'Delete web' }).click();
    const del = page.waitForRequest((r) => r.method() === 'DELETE' && r.url().endsWith(`/api/instances/${instanceId}`));
    await dialog.getByRole('button', { name: 'Yes, delete' }).click();
    await del;
    await statusOf(instanceId).filter({ hasText: 'DESTROYING' }).waitFor();
    expect(await row(instanceId).getByRole('button').count()).toBe(0);
    // The runner removes the container: it no longer reports it, and the list it gets is empty.
    const hb = await beat([]);
    expect((hb.instances ?? []).some((d) => d.id === instanceId)).toBe(false);
    await statusOf(instanceId).filter({ hasText: 'TERMINATED' }).waitFor();
    await stillSamePage();
  });

  let inlineId: string;

  it('/instances/new makes an inline instance; a bad port is shown next to the kept input; its page goes RUNNING live', async () => {
    await page.getByRole('link', { name: 'New instance' }).click();
    await page.getByRole('heading', { name: 'New instance' }).waitFor();
    await page.getByLabel('fields given here').check();
    await page.getByLabel('Name (optional)').fill('inline-1');
    await page.getByLabel('Image', { exact: true }).fill('docker.io/library/nginx:1.27');
    await page.getByLabel(/^Environment/).fill('MODE=demo\nAPI_KEY=not-shown-7c1');
    await page.getByLabel(/^Ports/).fill('9000:80, http');
    await page.getByLabel('Memory (MiB)').fill('32');
    await page.getByRole('button', { name: 'Create instance' }).click();
    await page.getByRole('alert').filter({ hasText: 'Ports: "http" is not' }).waitFor();
    expect(await page.getByLabel(/^Ports/).getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByLabel('Image', { exact: true }).inputValue()).toBe('docker.io/library/nginx:1.27');
    expect(await page.getByLabel(/^Environment/).inputValue()).toBe('MODE=demo\nAPI_KEY=not-shown-7c1');

    // The server's refusal is shown in its words, and the input is kept too.
    await page.getByLabel(/^Ports/).fill('9000:80');
    await page.getByLabel('Image', { exact: true }).fill('not an image!');
    await page.getByRole('button', { name: 'Create instance' }).click();
    await page.getByRole('alert').filter({ hasText: 'HTTP 400' }).waitFor();
    expect(await page.getByLabel(/^Ports/).inputValue()).toBe('9000:80');

    await page.getByLabel('Image', { exact: true }).fill('docker.io/library/nginx:1.27');
    await page.getByRole('button', { name: 'Create instance' }).click();
    await page.waitForURL(/\/instances\/[0-9a-f-]{36}$/);
    inlineId = page.url().split('/').pop()!;
    const made = await getInstance(inlineId);
    expect(made).toMatchObject({ name: 'inline-1', uri: 'docker.io/library/nginx:1.27', environment: ['MODE=demo', 'API_KEY=not-shown-7c1'], resources: { memory: 32 } });
    expect(made.workload_id).toBeNull();

    await page.getByRole('heading', { name: /Instance inline-1/ }).waitFor();
    await page.locator('[data-field=status]').filter({ hasText: 'SCHEDULED' }).waitFor();
    await page.getByText('MODE, API_KEY').waitFor();
    expect(await page.content()).not.toContain('not-shown-7c1');
    await page.getByText('32 MiB memory').waitFor();
    await page.getByRole('link', { name: runner.id }).waitFor();
    await mark();
    await beat([]);
    await beat([{ id: inlineId, status: 'RUNNING', ip: '10.0.0.5', ports: ['9000:80'], generation: generation(inlineId) }]);
    await page.locator('[data-field=status]').filter({ hasText: 'RUNNING' }).waitFor();
    await page.locator('[data-field=ports]').filter({ hasText: '10.0.0.5:9000 → 80' }).waitFor();
    await stillSamePage();
    // Its page has the same actions, unnamed.
    await page.getByRole('button', { name: 'Stop', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Delete', exact: true }).waitFor();

    // The runner's page lists the instances it holds (the TERMINATED one no longer).
    await page.getByRole('link', { name: runner.id }).click();
    await page.getByRole('heading', { name: 'Instances' }).waitFor();
    await row(inlineId).getByRole('link', { name: 'inline-1' }).waitFor();
    expect(await row(instanceId).count()).toBe(0);
  });

  it('/workloads: creates one, makes an instance of it, is refused (409) deleting it while that lives, deletes a spent one', async () => {
    await nav('Workloads').click();
    await page.getByRole('heading', { name: 'Workloads' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('api');
    await page.getByLabel('Image', { exact: true }).fill('busybox:1.36');
    await page.getByLabel(/^Command/).fill('httpd\n-f\n-p\n8081');
    await page.getByLabel(/^Ports/).fill('8081');
    await page.getByRole('button', { name: 'Create workload' }).click();
    await page.getByRole('status').filter({ hasText: 'Created workload api.' }).waitFor();
    const apiRow = page.locator('tr', { has: page.getByRole('cell', { name: 'api', exact: true }) });
    await apiRow.getByRole('cell', { name: '8081', exact: true }).waitFor();
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('');
    // A taken name: the server's 409, the input kept.
    await page.getByLabel('Name', { exact: true }).fill('api');
    await page.getByLabel('Image', { exact: true }).fill('busybox:1.36');
    await page.getByRole('button', { name: 'Create workload' }).click();
    await page.getByRole('alert').filter({ hasText: 'HTTP 409' }).waitFor();
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('api');

    await page.getByRole('link', { name: 'New instance of api' }).click();
    await page.getByRole('heading', { name: 'New instance' }).waitFor();
    // The workload named in the link is the one picked.
    const picked = page.getByLabel(/^Workload/);
    await eventually(async () => (await picked.evaluate((el) => (el as unknown as { selectedOptions: ArrayLike<{ text: string }> }).selectedOptions[0]?.text ?? '')).startsWith('api '));
    await page.getByRole('button', { name: 'Create instance' }).click();
    await page.waitForURL(/\/instances\/[0-9a-f-]{36}$/);
    const made = await getInstance(page.url().split('/').pop()!);
    expect(made).toMatchObject({ name: 'api', command: ['httpd', '-f', '-p', '8081'], ports: ['8081'] });

    await nav('Workloads').click();
    await apiRow.getByRole('button', { name: 'Delete api' }).click();
    await page.getByRole('alertdialog', { name: 'Confirm deletion' }).getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByRole('alert').filter({ hasText: 'HTTP 409' }).waitFor();
    await apiRow.waitFor();

    // `web`'s only instance is TERMINATED: it goes.
    await page.getByRole('button', { name: 'Delete web' }).click();
    await page.getByRole('alertdialog', { name: 'Confirm deletion' }).getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByRole('status').filter({ hasText: 'Deleted workload web.' }).waitFor();
    await page.getByRole('cell', { name: 'web', exact: true }).waitFor({ state: 'detached' });
    await pulse.http.get(`/api/workloads/${workloadId}`).set(pulse.admin).expect(404);
    expect(browser.problems.filter((p) => !p.includes('the server responded with a status of'))).toEqual([]);
  });

  it('the API lists a runner’s instances with ?runner=', async () => {
    const held = await pulse.http.get(`/api/instances?runner=${runner.id}`).set(pulse.admin).expect(200);
    const ids = held.body.items.map((i: { id: string }) => i.id);
    expect(ids).toContain(inlineId);
    expect(ids).not.toContain(instanceId);
    await pulse.http.get('/api/instances?runner=nope').set(pulse.admin).expect(400);
  });
});
