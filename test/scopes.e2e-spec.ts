import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TestRunner } from './support/protocol';
import { ADMIN_TOKEN, databaseKind, eventually, startPulse, TestPulse } from './support/pulse';

/**
 * SPEC section 12: every route of the user and admin API states its scope, and every kind of
 * token gets the status the scope implies. The routes are read from /api/docs-json, so a route
 * added later without `@RequireScope()` fails here (its operation has no `x-pulse-scope`).
 */

type Op = { security?: Array<Record<string, string[]>>; 'x-pulse-scope'?: string; requestBody?: unknown };
type Doc = { paths: Record<string, Record<string, Op>> };

/** Routes that take no user or admin token, and say so with `security: []`. */
const PUBLIC = new Set(['get /api/health', 'get /metrics', 'post /api/runner/registration']);

type Kind = 'none' | 'runner' | 'read' | 'write' | 'admin' | 'bootstrap' | 'bound' | 'expired' | 'revoked';
const KINDS: Kind[] = ['none', 'runner', 'read', 'write', 'bound', 'expired', 'revoked', 'admin', 'bootstrap'];

describe('scopes: every admin route × every kind of token', () => {
  let pulse: TestPulse;
  let doc: Doc;
  const token: Partial<Record<Kind, string>> = {};
  const ids: Record<string, string> = {};

  async function createToken(body: Record<string, unknown>): Promise<{ id: string; token: string }> {
    const res = await pulse.http.post('/api/tokens').set(pulse.admin).send(body).expect(201);
    expect(res.body.token).toMatch(/^pulse_pat_[A-Za-z0-9_-]{43}$/);
    return res.body as { id: string; token: string };
  }

  beforeAll(async () => {
    pulse = await startPulse();
    for (const name of ['team-a', 'team-b']) {
      await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: name, repositories: [`https://example.com/${name}.git`] }).expect(201);
    }
    const submitted = async (namespace: string): Promise<{ batch_id: string; runs: string[] }> =>
      (await pulse.http.post('/api/runs').set(pulse.admin).send({ namespace, script: 'true' }).expect(201)).body;
    const a = await submitted('team-a');
    const b = await submitted('team-b');
    ids.runA = a.runs[0];
    ids.runB = b.runs[0];
    ids.batchB = b.batch_id;
    const runner = await TestRunner.register(pulse, { name: 'matrix' });
    ids.runner = runner.id;
    token.runner = runner.token;
    token.read = (await createToken({ name: 'read', scopes: ['read'] })).token;
    token.write = (await createToken({ name: 'write', scopes: ['write'] })).token;
    token.admin = (await createToken({ name: 'admin', scopes: ['admin'] })).token;
    token.bound = (await createToken({ name: 'bound', scopes: ['write'], namespaces: ['team-a'] })).token;
    token.bootstrap = ADMIN_TOKEN;
    const revoked = await createToken({ name: 'revoked', scopes: ['admin'] });
    await pulse.http.delete(`/api/tokens/${revoked.id}`).set(pulse.admin).expect(200);
    token.revoked = revoked.token;
    const expired = await createToken({ name: 'expired', scopes: ['admin'], expires_at: new Date(Date.now() + 1500).toISOString() });
    token.expired = expired.token;
    ids.victimToken = (await createToken({ name: 'victim', scopes: ['read'] })).id;
    ids.registrationToken = (await pulse.http.post('/api/registration-tokens').set(pulse.admin).send({ name: 'victim' }).expect(201)).body.id;
    doc = (await pulse.http.get('/api/docs-json').expect(200)).body as Doc;
    // The expired token works until its time, then never again.
    await eventually(async () => (await pulse.http.get('/api/runs').set({ Authorization: `Bearer ${expired.token}` })).status === 401, 10000);
  });
  afterAll(() => pulse?.close());

  /** Every operation of the OpenAPI document. */
  function operations(): Array<{ method: string; path: string; op: Op }> {
    return Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ method, path, op })));
  }

  /** A concrete path: ids of namespace team-b's run and batch, team-b itself, and ids that exist for the rest. */
  function fill(path: string): { url: string; namespaced: boolean } {
    let namespaced = false;
    const url = path.replace(/\{(\w+)\}/g, (_, param: string) => {
      if (param === 'name') {
        namespaced = true;
        return 'team-b';
      }
      if (path.startsWith('/api/runs/')) {
        namespaced = true;
        return ids.runB;
      }
      if (path.startsWith('/api/batches/')) {
        namespaced = true;
        return ids.batchB;
      }
      if (path.startsWith('/api/runners/')) return ids.runner;
      if (path.startsWith('/api/tokens/')) return ids.victimToken;
      if (path.startsWith('/api/registration-tokens/')) return ids.registrationToken;
      return /id$/i.test(param) ? '00000000-0000-4000-8000-000000000000' : 'X';
    });
    return { url, namespaced };
  }

  const BODIES: Record<string, unknown> = {
    'post /api/runs': { namespace: 'team-b', script: 'true' },
    'put /api/namespaces': { namespace_name: 'team-b', repositories: ['https://example.com/team-b.git'] },
    'post /api/tokens': { name: 'made by the matrix', scopes: ['read'] },
    'post /api/registration-tokens': { name: 'made by the matrix' },
    'put /api/namespaces/{name}/secrets/{secret}': { value: 'a value set by the matrix' },
  };

  /** 'ok' (the route ran: neither 401 nor 403, nor a 5xx) or the status the token must get. */
  function expected(kind: Kind, scope: string, namespaced: boolean, key: string): 'ok' | number {
    switch (kind) {
      case 'none':
      case 'runner':
      case 'expired':
      case 'revoked':
        return 401;
      case 'read':
        return scope === 'read' ? 'ok' : 403;
      case 'write':
        return scope === 'admin' ? 403 : 'ok';
      case 'bound':
        if (scope === 'admin') return 403;
        return namespaced || key === 'post /api/runs' || key === 'put /api/namespaces' ? 404 : 'ok';
      case 'admin':
      case 'bootstrap':
        return 'ok';
    }
  }

  it('every route states its security: public ones `security: []`, runner ones the runner token, the rest a scope', () => {
    const problems: string[] = [];
    for (const { method, path, op } of operations()) {
      const key = `${method} ${path}`;
      const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
      if (PUBLIC.has(key)) {
        if (!Array.isArray(op.security) || op.security.length !== 0) problems.push(`${key}: public, must say security: []`);
      } else if (path.startsWith('/api/runner/')) {
        if (schemes.join() !== 'runner') problems.push(`${key}: a runner route, must name the runner scheme`);
      } else {
        if (schemes.join() !== 'token') problems.push(`${key}: must name the token scheme (use @RequireScope)`);
        if (!['read', 'write', 'admin'].includes(op['x-pulse-scope'] ?? '')) problems.push(`${key}: states no scope (add @RequireScope)`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('read: every GET except tokens, registration tokens and audit; admin: runners, tokens, registration tokens, audit', () => {
    for (const { method, path, op } of operations()) {
      const scope = op['x-pulse-scope'];
      if (!scope) continue;
      const adminOnly = /^\/api\/(tokens|registration-tokens|audit)(\/|$)/.test(path) || (path.startsWith('/api/runners') && method !== 'get');
      const want = adminOnly ? 'admin' : method === 'get' ? 'read' : 'write';
      expect({ route: `${method} ${path}`, scope }).toEqual({ route: `${method} ${path}`, scope: want });
    }
  });

  it('each route answers each kind of token as its scope implies', async () => {
    const mismatches: string[] = [];
    let checked = 0;
    for (const { method, path, op } of operations()) {
      const key = `${method} ${path}`;
      const scope = op['x-pulse-scope'];
      if (!scope) continue;
      const { url, namespaced } = fill(path);
      for (const kind of KINDS) {
        const want = expected(kind, scope, namespaced, key);
        const status = await statusOf(pulse.url, method, url, token[kind], method !== 'get' ? (BODIES[key] ?? {}) : undefined);
        const ok = want === 'ok' ? status !== 401 && status !== 403 && status < 500 : status === want;
        if (!ok) mismatches.push(`${key} with a ${kind} token: ${status}, expected ${want}`);
        checked++;
      }
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(25 * KINDS.length);
  }, 120000);

  it("a namespace-bound token's lists hold its namespaces only, and it acts on them", async () => {
    const bound = { Authorization: `Bearer ${token.bound}` };
    const runs = (await pulse.http.get('/api/runs').set(bound).expect(200)).body.items as Array<{ id: string }>;
    expect(runs.map((r) => r.id)).toContain(ids.runA);
    expect(runs.map((r) => r.id)).not.toContain(ids.runB);
    expect((await pulse.http.get('/api/runs?namespace=team-b').set(bound).expect(200)).body.items).toEqual([]);
    const batches = (await pulse.http.get('/api/batches').set(bound).expect(200)).body.items as Array<{ namespace: string }>;
    expect(new Set(batches.map((b) => b.namespace))).toEqual(new Set(['team-a']));
    const namespaces = (await pulse.http.get('/api/namespaces').set(bound).expect(200)).body as Array<{ namespace_name: string }>;
    expect(namespaces.map((n) => n.namespace_name)).toEqual(['team-a']);
    await pulse.http.get(`/api/runs/${ids.runA}`).set(bound).expect(200);
    await pulse.http.post('/api/runs').set(bound).send({ namespace: 'team-a', script: 'true' }).expect(201);
    await pulse.http.delete(`/api/runs/${ids.runA}`).set(bound).expect(200);
  });

  it('GET /api/whoami tells a client what its token may do', async () => {
    const bound = (await pulse.http.get('/api/whoami').set({ Authorization: `Bearer ${token.bound}` }).expect(200)).body;
    expect(bound).toEqual({ type: 'token', id: expect.any(String), name: 'bound', scopes: ['write'], namespaces: ['team-a'] });
    const root = (await pulse.http.get('/api/whoami').set(pulse.admin).expect(200)).body;
    expect(root).toMatchObject({ type: 'bootstrap', scopes: ['admin'], namespaces: null });
  });

  it('the OpenAPI document passes `redocly lint` (recommended rules) with no error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-openapi-'));
    try {
      const file = join(dir, 'openapi.json');
      writeFileSync(file, JSON.stringify(doc));
      const redocly = resolve(__dirname, '../node_modules/.bin/redocly');
      const out = spawnSync(redocly, ['lint', file, '--format=summary'], { encoding: 'utf8', env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } });
      expect({ status: out.status, errors: /error\s+\S+: \d+/.exec(out.stdout + out.stderr)?.[0] ?? null }).toEqual({ status: 0, errors: null });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60000);

  it('401 says why: expired and revoked tokens, a runner token is not an API token', async () => {
    const msg = async (t: string | undefined): Promise<string> =>
      (await pulse.http.get('/api/runs').set('Authorization', `Bearer ${t}`).expect(401)).body.message as string;
    expect(await msg(token.expired)).toMatch(/expired/);
    expect(await msg(token.revoked)).toMatch(/revoked/);
    expect(await msg(token.runner)).toMatch(/Invalid token/);
    expect(await msg('pulse_pat_short')).toMatch(/Invalid token/);
  });

  it('expiry: 90 days by default, at most 365; admin cannot be bound to namespaces', async () => {
    const made = (await pulse.http.post('/api/tokens').set(pulse.admin).send({ name: 'd', scopes: ['read'] }).expect(201)).body;
    const days = (new Date(made.expires_at as string).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThan(90.1);
    const far = new Date(Date.now() + 366 * 86_400_000).toISOString();
    const res = await pulse.http.post('/api/tokens').set(pulse.admin).send({ name: 'd', scopes: ['read'], expires_at: far }).expect(400);
    expect(res.body.message).toMatch(/expires_at/);
    await pulse.http.post('/api/tokens').set(pulse.admin).send({ name: 'd', scopes: ['root'] }).expect(400);
    await pulse.http.post('/api/tokens').set(pulse.admin).send({ name: 'd', scopes: ['admin'], namespaces: ['team-a'] }).expect(400);
    const list = (await pulse.http.get('/api/tokens').set(pulse.admin).expect(200)).body.items as Array<Record<string, unknown>>;
    expect(list.length).toBeGreaterThan(3);
    for (const t of list) expect(t).not.toHaveProperty('token');
    expect(list.find((t) => t.name === 'revoked')?.revoked_at).toEqual(expect.any(String));
    expect(list.find((t) => t.name === 'read')?.last_used_at).toEqual(expect.any(String));
  });
});

const describeOnPostgres = databaseKind() === 'postgres' ? describe : describe.skip;

describeOnPostgres('revocation across two orchestrator processes', () => {
  let a: TestPulse;
  let b: TestPulse;

  beforeAll(async () => {
    a = await startPulse();
    b = a.via(await a.spawnAnother());
  });
  afterAll(() => a?.close());

  it('a token revoked through one process is refused by the other within a second', async () => {
    for (let round = 0; round < 3; round++) {
      const made = (await a.http.post('/api/tokens').set(a.admin).send({ name: `t${round}`, scopes: ['read'] }).expect(201)).body;
      const auth = { Authorization: `Bearer ${made.token}` };
      // Both processes have it in memory now.
      await b.http.get('/api/runs').set(auth).expect(200);
      await b.http.get('/api/runs').set(auth).expect(200);
      await a.http.delete(`/api/tokens/${made.id}`).set(a.admin).expect(200);
      const revokedAt = Date.now();
      await eventually(async () => (await b.http.get('/api/runs').set(auth)).status === 401, 5000, 10);
      expect(Date.now() - revokedAt).toBeLessThanOrEqual(1000);
    }
  });
});

/**
 * The status a request gets, read from the response head alone: streaming routes (the event feed)
 * answer 200 and never end, so the connection is dropped once the head has arrived.
 */
function statusOf(base: string, method: string, path: string, bearer: string | undefined, body: unknown): Promise<number> {
  return new Promise((done, fail) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest(new URL(path, base), {
      method: method.toUpperCase(),
      headers: {
        ...(bearer && { authorization: `Bearer ${bearer}` }),
        ...(payload !== undefined && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
      },
      timeout: 20000,
    });
    req.on('response', (res) => {
      done(res.statusCode ?? 0);
      res.destroy();
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 20 s`)));
    req.on('error', fail);
    req.end(payload);
  });
}
