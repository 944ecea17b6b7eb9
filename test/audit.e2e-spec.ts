import { Client } from 'pg';
import { TestRunner } from './support/protocol';
import { ADMIN_TOKEN, databaseKind, eventually, REGISTRATION_TOKEN, startPulse, TestPulse } from './support/pulse';

/**
 * The audit log (SPEC section 12): each recorded action appears once, with its actor, subject and
 * source address; it is append-only, paginated and filtered; denials are rate-limited; and no
 * token value used anywhere in this suite is found in the audit table or the server's output.
 */
interface Entry {
  id: string;
  at: string;
  actor: { type: string; id: string | null; name: string | null };
  action: string;
  subject: { type: string; id: string } | null;
  ip: string | null;
  data: Record<string, unknown>;
}

describe('the audit log', () => {
  let pulse: TestPulse;
  const secrets: string[] = [ADMIN_TOKEN, REGISTRATION_TOKEN];

  beforeAll(async () => {
    pulse = await startPulse();
  });
  afterAll(() => pulse?.close());

  async function all(query = ''): Promise<Entry[]> {
    const out: Entry[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/api/audit?limit=3${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = (await pulse.http.get(url).set(pulse.admin).expect(200)).body as { items: Entry[]; next_cursor: string | null };
      out.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return out;
  }

  it('records each action once, with actor, subject and ip, and never a token', async () => {
    const admin = pulse.admin;
    // An API token with write scope does the user's part, so actors differ.
    const writer = (await pulse.http.post('/api/tokens').set(admin).send({ name: 'writer', scopes: ['write'] }).expect(201)).body;
    secrets.push(writer.token);
    const w = { Authorization: `Bearer ${writer.token}` };
    const reg = (await pulse.http.post('/api/registration-tokens').set(admin).send({ name: 'hosts' }).expect(201)).body;
    secrets.push(reg.token);
    await pulse.http.put('/api/namespaces').set(w).send({ namespace_name: 'audited', repositories: ['https://example.com/a.git'] }).expect(201);
    const batch = (await pulse.http.post('/api/runs').set(w).send({ namespace: 'audited', script: 'true', repos: ['https://example.com/a.git'], jobs: [{}, {}] }).expect(201)).body;
    await pulse.http.delete(`/api/runs/${batch.runs[0]}`).set(w).expect(200);
    await pulse.http.delete(`/api/batches/${batch.batch_id}`).set(w).expect(200);
    const runnerRes = await pulse.http.post('/api/runner/registration').send({ token: reg.token, name: 'audited-runner' }).expect(201);
    const runner = new TestRunner(pulse, runnerRes.body.runner_id as string, runnerRes.body.runner_token as string);
    secrets.push(runner.token);
    await pulse.http.post(`/api/runners/${runner.id}/disable`).set(admin).send({}).expect(200);
    await pulse.http.post(`/api/runners/${runner.id}/enable`).set(admin).send({}).expect(200);
    await pulse.http.post(`/api/runners/${runner.id}/rotate-token`).set(admin).send({}).expect(200);
    const offered = (await runner.heartbeat()).token!.value;
    secrets.push(offered);
    await pulse.http.post('/api/runner/heartbeat').set({ Authorization: `Bearer ${offered}` }).send({ id: runner.id, status: 'ready', runs: [] }).expect(200);
    await pulse.http.delete(`/api/runners/${runner.id}`).set(admin).expect(200);
    await pulse.http.delete('/api/namespaces/audited').set(w).expect(200);
    await pulse.http.delete(`/api/registration-tokens/${reg.id}`).set(admin).expect(200);
    await pulse.http.delete(`/api/tokens/${writer.id}`).set(admin).expect(200);

    const entries = await all();
    const of = (action: string): Entry[] => entries.filter((e) => e.action === action);
    const once = (action: string, subject: { type: string; id: string }, actor: Partial<Entry['actor']>): Entry => {
      const found = of(action);
      expect({ action, count: found.length }).toEqual({ action, count: 1 });
      expect(found[0].subject).toEqual(subject);
      expect(found[0].actor).toMatchObject(actor);
      expect(found[0].ip).toMatch(/127\.0\.0\.1/);
      return found[0];
    };
    const bootstrap = { type: 'bootstrap', id: null };
    const token = { type: 'token', id: writer.id, name: 'writer' };
    once('token.created', { type: 'token', id: writer.id }, bootstrap);
    once('token.revoked', { type: 'token', id: writer.id }, bootstrap);
    once('registration_token.created', { type: 'registration_token', id: reg.id }, bootstrap);
    once('registration_token.revoked', { type: 'registration_token', id: reg.id }, bootstrap);
    once('namespace.put', { type: 'namespace', id: 'audited' }, token);
    once('namespace.deleted', { type: 'namespace', id: 'audited' }, token);
    expect(once('run.submitted', { type: 'batch', id: batch.batch_id }, token).data).toMatchObject({ namespace: 'audited', runs: 2 });
    once('run.canceled', { type: 'run', id: batch.runs[0] }, token);
    once('batch.canceled', { type: 'batch', id: batch.batch_id }, token);
    once('runner.registered', { type: 'runner', id: runner.id }, { type: 'runner', id: runner.id });
    once('runner.disabled', { type: 'runner', id: runner.id }, bootstrap);
    once('runner.enabled', { type: 'runner', id: runner.id }, bootstrap);
    once('runner.deregistered', { type: 'runner', id: runner.id }, bootstrap);
    const rotated = of('runner.token_rotated');
    expect(rotated.map((e) => [e.actor.type, e.data.rotation]).sort()).toEqual([
      ['bootstrap', 'requested'],
      ['runner', 'completed'],
    ]);

    // Newest first, every field of the SPEC's shape.
    expect(Number(entries[0].id)).toBeGreaterThan(Number(entries[entries.length - 1].id));
    expect(Object.keys(entries[0]).sort()).toEqual(['action', 'actor', 'at', 'data', 'id', 'ip', 'subject']);
  });

  it('filters by action and since; refuses a bad cursor, action or since with 400', async () => {
    const runs = await all('&action=run.submitted');
    expect(runs.length).toBe(1);
    const later = new Date(Date.now() + 60_000).toISOString();
    expect(await all(`&since=${encodeURIComponent(later)}`)).toEqual([]);
    expect((await all(`&since=${encodeURIComponent(new Date(Date.now() - 600_000).toISOString())}`)).length).toBeGreaterThan(10);
    await pulse.http.get('/api/audit?cursor=forged').set(pulse.admin).expect(400);
    await pulse.http.get('/api/audit?since=yesterday').set(pulse.admin).expect(400);
    await pulse.http.get('/api/audit?action=DROP TABLE').set(pulse.admin).expect(400);
  });

  it('denied requests: at most one entry per source address and minute', async () => {
    for (let i = 0; i < 30; i++) {
      await pulse.http.get('/api/runs').set({ Authorization: `Bearer wrong-token-${i}` }).expect(401);
      await pulse.http.post('/api/runner/registration').send({ token: `wrong-${i}` }).expect(401);
    }
    await eventually(async () => (await all('&action=auth.denied')).length >= 1, 5000);
    const denied = await all('&action=auth.denied');
    expect(denied.length).toBe(1);
    expect(denied[0]).toMatchObject({ actor: { type: 'system' }, ip: expect.stringMatching(/127\.0\.0\.1/) });
    expect(JSON.stringify(denied)).not.toMatch(/wrong-token/);
  });

  it('is append-only: the database refuses UPDATE and DELETE', async () => {
    if (databaseKind() !== 'postgres') return; // the embedded database is reachable only through the app
    const client = new Client({ connectionString: pulse.databaseUrl });
    await client.connect();
    try {
      await expect(client.query(`UPDATE audit_log SET action = 'x'`)).rejects.toThrow(/append-only/);
      await expect(client.query(`DELETE FROM audit_log`)).rejects.toThrow(/append-only/);
    } finally {
      await client.end();
    }
  });

  it('no token value used in this suite is in the audit table or the server output', async () => {
    const dump = JSON.stringify(await all());
    const output = pulse.proc.output();
    let table = '';
    if (databaseKind() === 'postgres') {
      const client = new Client({ connectionString: pulse.databaseUrl });
      await client.connect();
      try {
        table = JSON.stringify((await client.query(`SELECT * FROM audit_log`)).rows);
      } finally {
        await client.end();
      }
    }
    expect(secrets.length).toBeGreaterThan(5);
    for (const secret of secrets) {
      expect({ secret, inAudit: dump.includes(secret) || table.includes(secret), inOutput: output.includes(secret) }).toEqual({
        secret,
        inAudit: false,
        inOutput: false,
      });
    }
  });
});
