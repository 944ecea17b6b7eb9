import { TestRunner } from './support/protocol';
import { eventually, startPulse, TestPulse } from './support/pulse';

/**
 * Registration tokens (SPEC section 12): named, with labels, namespaces, an expiry and a use
 * limit; a runner registered with a namespace-bound one takes runs of those namespaces only,
 * in the single claim and in the grouped claim, and `pending_reason` says so.
 */
describe('registration tokens', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse({ HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '2' });
    for (const name of ['team-a', 'team-b']) {
      await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: name, repositories: ['https://example.com/r.git'] }).expect(201);
    }
  });
  afterAll(() => pulse?.close());

  const create = async (body: Record<string, unknown>): Promise<{ id: string; token: string; [k: string]: unknown }> =>
    (await pulse.http.post('/api/registration-tokens').set(pulse.admin).send(body).expect(201)).body;
  const register = (token: string, body: Record<string, unknown> = {}) =>
    pulse.http.post('/api/runner/registration').send({ token, ...body });

  it('is shown once, listed without its value, and counts its uses up to max_uses (then 401)', async () => {
    const made = await create({ name: 'twice', labels: ['gpu'], max_uses: 2 });
    expect(made.token).toMatch(/^pulse_reg_[A-Za-z0-9_-]{43}$/);
    expect(made).toMatchObject({ name: 'twice', labels: ['gpu'], namespaces: null, max_uses: 2, uses: 0, revoked_at: null });
    // Concurrent registrations: exactly two get in.
    const answers = await Promise.all(Array.from({ length: 5 }, () => register(made.token)));
    expect(answers.map((r) => r.status).sort()).toEqual([201, 201, 401, 401, 401]);
    const refused = answers.find((r) => r.status === 401)!;
    expect(refused.body.message).toMatch(/used up/);
    const listed = (await pulse.http.get('/api/registration-tokens').set(pulse.admin).expect(200)).body.items as Array<Record<string, unknown>>;
    const entry = listed.find((t) => t.id === made.id)!;
    expect(entry).toMatchObject({ uses: 2 });
    expect(entry).not.toHaveProperty('token');
    // Its runners carry its labels as well as their own.
    const runnerId = answers.find((r) => r.status === 201)!.body.runner_id as string;
    const runner = (await pulse.http.get(`/api/runners/${runnerId}`).set(pulse.admin).expect(200)).body;
    expect(runner.labels).toContain('gpu');
  });

  it('revoked and expired ones get 401; the bootstrap RUNNER_REGISTRATION_TOKEN still works', async () => {
    const revoked = await create({ name: 'revoked' });
    await pulse.http.delete(`/api/registration-tokens/${revoked.id}`).set(pulse.admin).expect(200);
    expect((await register(revoked.token)).status).toBe(401);
    expect((await register(revoked.token)).body.message).toMatch(/revoked/);
    const expiring = await create({ name: 'expiring', expires_at: new Date(Date.now() + 1500).toISOString() });
    expect((await register(expiring.token)).status).toBe(201);
    await eventually(async () => (await register(expiring.token)).status === 401, 10000);
    expect((await register(expiring.token)).body.message).toMatch(/expired/);
    expect((await register('pulse_reg_nothing')).status).toBe(401);
    await TestRunner.register(pulse);
    await pulse.http.post('/api/registration-tokens').set(pulse.admin).send({ name: 'x', max_uses: 0 }).expect(400);
    await pulse.http.post('/api/registration-tokens').set(pulse.admin).send({ name: 'x', namespaces: ['no spaces'] }).expect(400);
    await pulse.http.post('/api/registration-tokens').set(pulse.admin).send({ name: 'x', expires_at: 'soon' }).expect(400);
  });

  it('a runner registered with a namespace-bound token takes runs of those namespaces only, alone or in a crowd', async () => {
    const made = await create({ name: 'team-a runners', namespaces: ['team-a'], labels: ['ns-bound'] });
    const bound = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const res = await register(made.token).expect(201);
        return new TestRunner(pulse, res.body.runner_id as string, res.body.runner_token as string);
      }),
    );
    const shown = (await pulse.http.get(`/api/runners/${bound[0].id}`).set(pulse.admin).expect(200)).body;
    expect(shown.namespaces).toEqual(['team-a']);
    // Runs of team-b first (older), then team-a.
    const b = (await pulse.http.post('/api/runs').set(pulse.admin).send({ namespace: 'team-b', labels: ['ns-bound'], script: 'true', repos: ['https://example.com/r.git'], jobs: [{}, {}, {}] }).expect(201)).body;
    const a = (await pulse.http.post('/api/runs').set(pulse.admin).send({ namespace: 'team-a', labels: ['ns-bound'], script: 'true', repos: ['https://example.com/r.git'], jobs: [{}, {}] }).expect(201)).body;
    // One alone (the single claim), then three at once (the grouped claim).
    const alone = await bound[0].heartbeat();
    const crowd = await Promise.all(bound.slice(1).map((r) => r.heartbeat()));
    const taken = [alone, ...crowd].map((h) => h.run?.id).filter((id): id is string => id !== undefined);
    expect(taken.sort()).toEqual([...(a.runs as string[])].sort());
    const run = (await pulse.http.get(`/api/runs/${b.runs[0]}`).set(pulse.admin).expect(200)).body;
    expect(run.state).toBe('waiting');
    expect(run.pending_reason).toMatch(/bound to other namespaces/);
    // An unbound runner with the label takes team-b's runs.
    const free = await TestRunner.register(pulse, { labels: ['ns-bound'] });
    expect((await free.heartbeat()).run?.id).toBe(b.runs[0]);
  });
});
