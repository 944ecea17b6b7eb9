import { get as httpGet, IncomingHttpHeaders } from 'node:http';
import type { Response, Test } from 'supertest';
import { Assignment, TestRunner } from './support/protocol';
import { eventually, startPulse, TestPulse } from './support/pulse';

/** The user and admin API (SPEC section 3) and the failures of section 7. */

const NIL = '00000000-0000-4000-8000-000000000000';
const REPO_A = 'https://example.com/a.git';
const REPO_B = 'https://example.com/b.git';
const REPO_C = 'https://example.com/c.git';

/** Section 7: a JSON error with statusCode, message and error, and never a stack trace. */
function expectError(res: Response, status: number): void {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.body).toMatchObject({ statusCode: status, error: expect.any(String) });
  expect(typeof res.body.message === 'string' || Array.isArray(res.body.message)).toBe(true);
  expectNoStack(res);
}

function expectNoStack(res: Response): void {
  expect(res.text).not.toMatch(/\bat \S+ \(|\.[jt]s:\d+:\d+|node_modules|"stack"/);
}

/** The message of a 400, flattened, so a test can check that it names the field. */
function messageOf(res: Response): string {
  return JSON.stringify(res.body.message);
}

interface Follower {
  status: number;
  headers: IncomingHttpHeaders;
  text(): string;
  /** Resolves with the whole body when the server ends the response. */
  ended: Promise<string>;
  isEnded(): boolean;
  close(): void;
}

/** A raw streaming reader for `?follow=1`: sees every chunk as it arrives. */
function follow(pulse: TestPulse, path: string): Promise<Follower> {
  return new Promise((resolve, reject) => {
    const req = httpGet(`${pulse.url}${path}`, { headers: pulse.admin }, (res) => {
      const chunks: Buffer[] = [];
      let done = false;
      res.on('data', (c: Buffer) => chunks.push(c));
      const ended = new Promise<string>((ok, fail) => {
        res.on('end', () => {
          done = true;
          ok(Buffer.concat(chunks).toString());
        });
        res.on('error', fail);
        res.on('aborted', () => fail(new Error('response aborted')));
      });
      ended.catch(() => undefined);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: () => Buffer.concat(chunks).toString(),
        ended,
        isEnded: () => done,
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, fail) => {
    timer = setTimeout(() => fail(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('user and admin API (SPEC section 3)', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse();
  }, 120000);
  afterAll(() => pulse?.close());

  const putNamespace = (name: string, repositories: string[] = [REPO_A]) =>
    pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: name, repositories });

  /**
   * Submits runs. Unless a test says otherwise they carry a label no runner has, so that no
   * runner of another test takes them.
   */
  const postRuns = (body: Record<string, unknown>) =>
    pulse.http.post('/api/runs').set(pulse.admin).send({ script: 'echo hi', labels: ['parked'], ...body });

  async function submitted(body: Record<string, unknown>): Promise<{ batch_id: string; runs: string[] }> {
    const res = await postRuns(body);
    if (res.status !== 201) throw new Error(`submission failed: ${res.status} ${res.text}`);
    return res.body as { batch_id: string; runs: string[] };
  }

  const getRun = async (id: string) => (await pulse.http.get(`/api/runs/${id}`).set(pulse.admin).expect(200)).body;

  /** A run handed to a runner of its own and acknowledged (an update at offset 0). */
  async function running(label: string, extra: Record<string, unknown> = {}) {
    const runner = await TestRunner.register(pulse, { labels: [label] });
    await putNamespace(label).expect(201);
    const { batch_id, runs } = await submitted({ namespace: label, labels: [label], ...extra });
    const run = (await runner.heartbeat()).run as Assignment;
    expect(run.id).toBe(runs[0]);
    await runner.update(run, 0, '').expect(200);
    return { runner, run, batch_id };
  }

  describe('admin authentication', () => {
    const routes: Array<[string, string]> = [
      ['get', '/api/runners'],
      ['get', `/api/runners/${NIL}`],
      ['delete', `/api/runners/${NIL}`],
      ['post', `/api/runners/${NIL}/enable`],
      ['post', `/api/runners/${NIL}/disable`],
      ['post', '/api/runs'],
      ['get', '/api/runs'],
      ['get', `/api/runs/${NIL}`],
      ['delete', `/api/runs/${NIL}`],
      ['get', `/api/runs/${NIL}/logs`],
      ['get', '/api/batches'],
      ['get', `/api/batches/${NIL}`],
      ['delete', `/api/batches/${NIL}`],
      ['get', '/api/namespaces'],
      ['get', '/api/namespaces/x'],
      ['put', '/api/namespaces'],
      ['delete', '/api/namespaces/x'],
    ];

    it.each(routes)('%s %s: 401 without a token, with a wrong one, and with a runner token', async (method, path) => {
      const runner = await TestRunner.register(pulse);
      const call = () => (pulse.http as unknown as Record<string, (p: string) => Test>)[method](path);
      expectError(await call(), 401);
      expectError(await call().set({ Authorization: 'Bearer not-the-admin-token-at-all' }), 401);
      expectError(await call().set({ Authorization: `Basic ${Buffer.from('admin:x').toString('base64')}` }), 401);
      expectError(await call().set(runner.auth), 401);
    });

    it('the admin token is not a runner token', async () => {
      const runner = await TestRunner.register(pulse);
      const res = await pulse.http.post('/api/runner/heartbeat').set(pulse.admin).send({ id: runner.id, status: 'ready' });
      expectError(res, 401);
    });
  });

  describe('operations', () => {
    it('GET /api/health needs no token and answers 200 {status: ok}', async () => {
      const res = await pulse.http.get('/api/health').expect(200);
      expect(res.body).toMatchObject({ status: 'ok' });
    });

    it('/api/docs serves the Swagger UI as HTML', async () => {
      const res = await pulse.http.get('/api/docs').redirects(2).expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.text).toMatch(/swagger/i);
    });

    it('/api/docs-json documents every route of sections 2 and 3 with bodies and responses', async () => {
      const doc = (await pulse.http.get('/api/docs-json').expect(200)).body;
      expect(String(doc.openapi)).toMatch(/^3\./);
      const withBody: Array<[string, string]> = [
        ['put', '/api/namespaces'],
        ['post', '/api/runs'],
        ['post', '/api/runner/registration'],
        ['delete', '/api/runner/registration'],
        ['post', '/api/runner/heartbeat'],
        ['post', '/api/runner/runs/{runId}/update'],
        ['post', '/api/runner/complete/{runnerId}/{projectId}'],
      ];
      const withoutBody: Array<[string, string]> = [
        ['get', '/api/runners'],
        ['get', '/api/runners/{id}'],
        ['delete', '/api/runners/{id}'],
        ['post', '/api/runners/{id}/enable'],
        ['post', '/api/runners/{id}/disable'],
        ['get', '/api/runs'],
        ['get', '/api/runs/{id}'],
        ['delete', '/api/runs/{id}'],
        ['get', '/api/runs/{id}/logs'],
        ['get', '/api/batches'],
        ['get', '/api/batches/{id}'],
        ['delete', '/api/batches/{id}'],
        ['get', '/api/namespaces'],
        ['get', '/api/namespaces/{name}'],
        ['delete', '/api/namespaces/{name}'],
        ['get', '/api/health'],
      ];
      type Schema = { $ref?: string; properties?: Record<string, unknown> };
      const schemas = doc.components.schemas as Record<string, Schema>;
      const resolve = (s: Schema): Schema => (s.$ref ? schemas[s.$ref.replace('#/components/schemas/', '')] : s);
      for (const [method, path] of [...withBody, ...withoutBody]) {
        const op = doc.paths[path]?.[method];
        expect({ route: `${method} ${path}`, documented: op !== undefined }).toEqual({ route: `${method} ${path}`, documented: true });
        const success = Object.keys(op.responses).filter((s) => /^2\d\d$/.test(s));
        expect(success.length).toBeGreaterThan(0);
        if (method === 'delete' && path === '/api/runner/registration') continue; // 200, empty body
        for (const status of success) {
          const content = op.responses[status].content;
          expect({ route: `${method} ${path} ${status}`, content: content !== undefined }).toEqual({
            route: `${method} ${path} ${status}`,
            content: true,
          });
        }
        if (path !== '/api/health' && path !== '/api/runner/registration') {
          expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401']));
        }
      }
      for (const [method, path] of withBody) {
        const body = doc.paths[path][method].requestBody;
        const schema = resolve(body?.content?.['application/json']?.schema ?? {});
        expect({ route: `${method} ${path}`, properties: Object.keys(schema?.properties ?? {}).length > 0 }).toEqual({
          route: `${method} ${path}`,
          properties: true,
        });
      }
      const submission = resolve(doc.paths['/api/runs'].post.requestBody.content['application/json'].schema);
      expect(Object.keys(submission.properties ?? {})).toEqual(
        expect.arrayContaining(['namespace', 'script', 'repos', 'jobs', 'env', 'timeout', 'labels', 'framework', 'resources', 'priority', 'max_attempts']),
      );
      const detail = resolve(doc.paths['/api/runs/{id}'].get.responses['200'].content['application/json'].schema);
      expect(Object.keys(detail.properties ?? {})).toEqual(expect.arrayContaining(['pending_reason', 'env', 'logs', 'exit_code']));
      expect(JSON.stringify(detail)).not.toMatch(/message_?id/i);
      expect(doc.paths['/api/runs'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
        expect.arrayContaining(['limit', 'cursor', 'state', 'batch', 'runner', 'namespace']),
      );
    });
  });

  describe('namespaces', () => {
    it('PUT creates (201) then replaces (200); GET lists a plain array and gets one', async () => {
      const created = await putNamespace('ns-crud', [REPO_A, REPO_B, REPO_A]).expect(201);
      expect(created.body).toEqual({ namespace_name: 'ns-crud', repositories: [REPO_A, REPO_B] });
      const replaced = await putNamespace('ns-crud', [REPO_C]).expect(200);
      expect(replaced.body).toEqual({ namespace_name: 'ns-crud', repositories: [REPO_C] });
      const one = await pulse.http.get('/api/namespaces/ns-crud').set(pulse.admin).expect(200);
      expect(one.body).toEqual({ namespace_name: 'ns-crud', repositories: [REPO_C] });
      const list = await pulse.http.get('/api/namespaces').set(pulse.admin).expect(200);
      expect(Array.isArray(list.body)).toBe(true);
      expect(list.body).toContainEqual({ namespace_name: 'ns-crud', repositories: [REPO_C] });
      for (const item of list.body) expect(Object.keys(item).sort()).toEqual(['namespace_name', 'repositories']);
    });

    it('GET and DELETE of an absent namespace: 404', async () => {
      expectError(await pulse.http.get('/api/namespaces/no-such-ns').set(pulse.admin), 404);
      expectError(await pulse.http.delete('/api/namespaces/no-such-ns').set(pulse.admin), 404);
    });

    it('validates names (1–63 of letters, digits, . _ -) and the body: 400 naming the field', async () => {
      await putNamespace('a').expect(201);
      await putNamespace('A.b_c-9').expect(201);
      await putNamespace('x'.repeat(63)).expect(201);
      for (const bad of ['', 'x'.repeat(64), 'has space', 'slash/y', 'ünï', 'semi;colon', 'a\nb']) {
        const res = await putNamespace(bad);
        expectError(res, 400);
        expect(messageOf(res)).toContain('namespace_name');
      }
      for (const body of [
        { repositories: [REPO_A] },
        { namespace_name: 7, repositories: [REPO_A] },
        { namespace_name: 'ok-name', repositories: REPO_A },
        { namespace_name: 'ok-name', repositories: [3] },
        { namespace_name: 'ok-name', repositories: [''] },
        { namespace_name: 'ok-name' },
      ]) {
        const res = await pulse.http.put('/api/namespaces').set(pulse.admin).send(body);
        expectError(res, 400);
        expect(messageOf(res)).toMatch(/namespace_name|repositories/);
      }
      const nul = await putNamespace('ok-name', ['https://example.com/\u0000.git']);
      expectError(nul, 400);
      expect(messageOf(nul)).toContain('repositories');
      expectError(await pulse.http.get('/api/namespaces/a%00b').set(pulse.admin), 404);
      expectError(await pulse.http.delete('/api/namespaces/a%00b').set(pulse.admin), 404);
      const unknown = await pulse.http
        .put('/api/namespaces')
        .set(pulse.admin)
        .send({ namespace_name: 'ok-name', repositories: [], colour: 'red' });
      expectError(unknown, 400);
      expect(messageOf(unknown)).toContain('colour');
      expectError(await pulse.http.get('/api/namespaces/ok-name').set(pulse.admin), 404);
    });

    it('DELETE returns the namespace; 409 while it has runs that are not final', async () => {
      await putNamespace('ns-del', [REPO_A, REPO_B]).expect(201);
      const { batch_id } = await submitted({ namespace: 'ns-del' });
      const conflict = await pulse.http.delete('/api/namespaces/ns-del').set(pulse.admin);
      expectError(conflict, 409);
      await pulse.http.get('/api/namespaces/ns-del').set(pulse.admin).expect(200);
      await pulse.http.delete(`/api/batches/${batch_id}`).set(pulse.admin).expect(200);
      const deleted = await pulse.http.delete('/api/namespaces/ns-del').set(pulse.admin).expect(200);
      expect(deleted.body).toEqual({ namespace_name: 'ns-del', repositories: [REPO_A, REPO_B] });
      expectError(await pulse.http.get('/api/namespaces/ns-del').set(pulse.admin), 404);
      expectError(await postRuns({ namespace: 'ns-del' }), 404);
      // Its history stays readable.
      await pulse.http.get(`/api/batches/${batch_id}`).set(pulse.admin).expect(200);
    });

    it('409 while a run is running, too', async () => {
      const { runner, run } = await running('ns-busy');
      expectError(await pulse.http.delete('/api/namespaces/ns-busy').set(pulse.admin), 409);
      await runner.complete(run, { status: 'finished', exitCode: 0 }).expect(200);
      await pulse.http.delete('/api/namespaces/ns-busy').set(pulse.admin).expect(200);
    });
  });

  describe('submission (POST /api/runs)', () => {
    beforeAll(async () => {
      await putNamespace('sub', [REPO_A, REPO_B, REPO_C]).expect(201);
      await putNamespace('sub-empty', []).expect(201);
    });

    async function reposOf(runs: string[]): Promise<string[]> {
      return Promise.all(runs.map(async (id) => (await getRun(id)).repo as string));
    }

    it('201 {batch_id, runs}: one run per repository of the namespace by default, in order', async () => {
      const res = await postRuns({ namespace: 'sub' }).expect(201);
      expect(Object.keys(res.body).sort()).toEqual(['batch_id', 'runs']);
      expect(res.body.batch_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.body.runs).toHaveLength(3);
      expect(new Set(res.body.runs).size).toBe(3);
      expect(await reposOf(res.body.runs)).toEqual([REPO_A, REPO_B, REPO_C]);
      for (const id of res.body.runs) {
        expect(await getRun(id)).toMatchObject({ batch_id: res.body.batch_id, state: 'waiting', namespace: 'sub' });
      }
    });

    it('one run per entry of repos', async () => {
      const { runs } = await submitted({ namespace: 'sub', repos: [REPO_C, REPO_A] });
      expect(await reposOf(runs)).toEqual([REPO_C, REPO_A]);
    });

    it('one run per job; a job without repo takes the only entry of repos', async () => {
      const { runs } = await submitted({
        namespace: 'sub',
        repos: [REPO_B],
        jobs: [{ repo: REPO_A }, {}, { env: { X: '1' } }, { repo: REPO_C, payload: { mutant: 7 } }],
      });
      expect(await reposOf(runs)).toEqual([REPO_A, REPO_B, REPO_B, REPO_C]);
      expect((await getRun(runs[3])).payload).toEqual({ mutant: 7 });
      expect((await getRun(runs[2])).env).toEqual({ X: '***' });
    });

    it('400 for a job without repo when repos does not have exactly one entry', async () => {
      for (const repos of [undefined, [REPO_A, REPO_B]]) {
        const res = await postRuns({ namespace: 'sub', jobs: [{ repo: REPO_A }, {}], ...(repos && { repos }) });
        expectError(res, 400);
        expect(messageOf(res)).toMatch(/jobs\.1\.repo/);
      }
    });

    it('400 for a repo that is not in the namespace, naming it; 404 for an unknown namespace', async () => {
      let res = await postRuns({ namespace: 'sub', repos: [REPO_A, 'https://evil.example/x.git'] });
      expectError(res, 400);
      expect(messageOf(res)).toContain('https://evil.example/x.git');
      res = await postRuns({ namespace: 'sub', jobs: [{ repo: 'https://evil.example/y.git' }] });
      expectError(res, 400);
      expect(messageOf(res)).toContain('https://evil.example/y.git');
      res = await postRuns({ namespace: 'sub', repos: ['https://evil.example/z.git'], jobs: [{}] });
      expectError(res, 400);
      expectError(await postRuns({ namespace: 'never-created' }), 404);
      // Nothing was created by the refused submissions.
      const list = await pulse.http.get('/api/runs?namespace=never-created').set(pulse.admin).expect(200);
      expect(list.body.items).toEqual([]);
    });

    it('400 when the namespace has no repositories and the submission names none', async () => {
      expectError(await postRuns({ namespace: 'sub-empty' }), 400);
    });

    it('validates environment names and values (400 naming env), for the submission and per job', async () => {
      await postRuns({ namespace: 'sub', env: { _OK: 'x', A9: '', lower_case: 'y' } }).expect(201);
      const bad: unknown[] = [{ '1ABC': 'x' }, { 'A-B': 'x' }, { '': 'x' }, { 'A B': 'x' }, { A: 1 }, { A: null }, { A: { b: 'c' } }, { A: ['x'] }, ['A=1'], 'A=1'];
      for (const env of bad) {
        const res = await postRuns({ namespace: 'sub', env });
        expectError(res, 400);
        expect(messageOf(res)).toContain('env');
        const perJob = await postRuns({ namespace: 'sub', jobs: [{ repo: REPO_A, env }] });
        expectError(perJob, 400);
        expect(messageOf(perJob)).toContain('env');
      }
    });

    it('script as a string (split into lines) or as string[]; the runner gets lines and the merged env', async () => {
      const label = 'sub-script';
      const runner = await TestRunner.register(pulse, { labels: [label] });
      await putNamespace(label).expect(201);
      await submitted({ namespace: label, labels: [label], script: 'echo one\necho two', env: { A: '1', B: '2' }, jobs: [{ env: { B: '3' } }], repos: [REPO_A] });
      const first = (await runner.heartbeat()).run as Assignment;
      expect(first.script).toEqual(['echo one', 'echo two']);
      expect(first.env).toEqual({ A: '1', B: '3' });
      await runner.complete(first, { status: 'finished', exitCode: 0 }).expect(200);
      await submitted({ namespace: label, labels: [label], script: ['set -e', 'make test'] });
      const second = (await runner.heartbeat()).run as Assignment;
      expect(second.script).toEqual(['set -e', 'make test']);
      await runner.complete(second, { status: 'finished', exitCode: 0 }).expect(200);
      for (const script of [[], '', [1], ['ok', 2], { x: 1 }, null]) {
        const res = await postRuns({ namespace: 'sub', script });
        expectError(res, 400);
        expect(messageOf(res)).toContain('script');
      }
    });

    it('unknown fields are refused with 400 naming the field, at the top and inside jobs and resources', async () => {
      for (const [body, field] of [
        [{ namespace: 'sub', colour: 'red' }, 'colour'],
        [{ namespace: 'sub', jobs: [{ repo: REPO_A, colour: 'red' }] }, 'colour'],
        [{ namespace: 'sub', resources: { gpu: 1 } }, 'gpu'],
        [{ namespace: 'sub', maxAttempts: 2 }, 'maxAttempts'],
      ] as Array<[Record<string, unknown>, string]>) {
        const res = await postRuns(body);
        expectError(res, 400);
        expect(messageOf(res)).toContain(field);
      }
    });

    it('validates the other fields with 400 naming them', async () => {
      for (const [body, field] of [
        [{ script: 'x' }, 'namespace'],
        [{ namespace: 'bad name' }, 'namespace'],
        [{ namespace: 'sub', repos: [] }, 'repos'],
        [{ namespace: 'sub', repos: 'x' }, 'repos'],
        [{ namespace: 'sub', jobs: [] }, 'jobs'],
        [{ namespace: 'sub', jobs: ['x'] }, 'jobs'],
        [{ namespace: 'sub', timeout: 0 }, 'timeout'],
        [{ namespace: 'sub', timeout: 1.5 }, 'timeout'],
        [{ namespace: 'sub', timeout: '60' }, 'timeout'],
        [{ namespace: 'sub', labels: 'a' }, 'labels'],
        [{ namespace: 'sub', labels: ['a b'] }, 'labels'],
        [{ namespace: 'sub', framework: 3 }, 'framework'],
        [{ namespace: 'sub', resources: { cpu: -1 } }, 'cpu'],
        [{ namespace: 'sub', resources: 'big' }, 'resources'],
        [{ namespace: 'sub', priority: 'high' }, 'priority'],
        [{ namespace: 'sub', max_attempts: 0 }, 'max_attempts'],
        [{ namespace: 'sub', jobs: [{ repo: REPO_A, payload: 'x' }] }, 'payload'],
        // PostgreSQL cannot store a NUL: refused as bad input, never a 500.
        [{ namespace: 'sub', script: 'echo \u0000' }, 'script'],
        [{ namespace: 'sub', script: ['ok', 'a\u0000b'] }, 'script'],
        [{ namespace: 'sub', repos: [`${REPO_A}\u0000`] }, 'repos'],
        [{ namespace: 'sub', env: { A: 'x\u0000' } }, 'env'],
        [{ namespace: 'sub', labels: ['a\u0000'] }, 'labels'],
        [{ namespace: 'sub', framework: 'shell\u0000' }, 'framework'],
        [{ namespace: 'sub', jobs: [{ repo: `${REPO_A}\u0000` }] }, 'repo'],
        [{ namespace: 'sub', jobs: [{ repo: REPO_A, env: { A: '\u0000' } }] }, 'env'],
        [{ namespace: 'sub', jobs: [{ repo: REPO_A, payload: { deep: ['x\u0000'] } }] }, 'payload'],
        [{ namespace: 'sub', jobs: [{ repo: REPO_A, payload: { 'k\u0000': 1 } }] }, 'payload'],
      ] as Array<[Record<string, unknown>, string]>) {
        const res = await postRuns(body);
        expectError(res, 400);
        expect(messageOf(res)).toContain(field);
      }
    });

    it('a 10,000-run batch in one request; its list pages walk every run exactly once', async () => {
      const res = await pulse.http
        .post('/api/runs')
        .set(pulse.admin)
        .send({ namespace: 'sub', script: 'true', labels: ['bulk-only'], jobs: Array.from({ length: 10000 }, (_, i) => ({ repo: REPO_A, payload: { i } })) })
        .expect(201);
      const { batch_id, runs } = res.body as { batch_id: string; runs: string[] };
      expect(runs).toHaveLength(10000);
      expect(new Set(runs).size).toBe(10000);
      const batch = (await pulse.http.get(`/api/batches/${batch_id}`).set(pulse.admin).expect(200)).body;
      expect(batch.run_waiting).toHaveLength(10000);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: Response = await pulse.http
          .get('/api/runs')
          .query({ batch: batch_id, limit: 500, ...(cursor && { cursor }) })
          .set(pulse.admin)
          .expect(200);
        expect(page.body.items.length).toBeLessThanOrEqual(500);
        seen.push(...page.body.items.map((r: { id: string }) => r.id));
        cursor = page.body.next_cursor;
        pages++;
      } while (cursor);
      expect(pages).toBeGreaterThanOrEqual(20);
      expect(seen).toHaveLength(10000);
      expect(new Set(seen)).toEqual(new Set(runs));
      const canceled = (await pulse.http.delete(`/api/batches/${batch_id}`).set(pulse.admin).expect(200)).body;
      expect(canceled.run_canceled).toHaveLength(10000);
      expect(canceled.run_waiting).toEqual([]);
    });
  });

  describe('lists: pagination and filters', () => {
    let batchA: string;
    let batchB: string;
    let runsA: string[];
    let runsB: string[];

    beforeAll(async () => {
      await putNamespace('page-a', [REPO_A]).expect(201);
      await putNamespace('page-b', [REPO_B]).expect(201);
      ({ batch_id: batchA, runs: runsA } = await submitted({ namespace: 'page-a', jobs: Array.from({ length: 7 }, () => ({})), repos: [REPO_A] }));
      ({ batch_id: batchB, runs: runsB } = await submitted({ namespace: 'page-b', jobs: Array.from({ length: 60 }, () => ({})), repos: [REPO_B] }));
      await pulse.http.delete(`/api/runs/${runsA[0]}`).set(pulse.admin).expect(200);
      await pulse.http.delete(`/api/runs/${runsA[1]}`).set(pulse.admin).expect(200);
    });

    async function walk(path: string, query: Record<string, string | number>): Promise<Array<Record<string, unknown>>> {
      const all: Array<Record<string, unknown>> = [];
      let cursor: string | null = null;
      for (let guard = 0; guard < 1000; guard++) {
        const res: Response = await pulse.http
          .get(path)
          .query({ ...query, ...(cursor && { cursor }) })
          .set(pulse.admin)
          .expect(200);
        expect(Object.keys(res.body).sort()).toEqual(['event_cursor', 'items', 'next_cursor']);
        all.push(...res.body.items);
        cursor = res.body.next_cursor;
        if (cursor === null) return all;
        expect(typeof cursor).toBe('string');
      }
      throw new Error('pagination never ended');
    }

    it('runs: default limit 50, max 500, next_cursor null on the last page', async () => {
      const first = await pulse.http.get('/api/runs').query({ namespace: 'page-b' }).set(pulse.admin).expect(200);
      expect(first.body.items).toHaveLength(50);
      expect(first.body.next_cursor).toEqual(expect.any(String));
      const rest = await pulse.http.get('/api/runs').query({ namespace: 'page-b', cursor: first.body.next_cursor }).set(pulse.admin).expect(200);
      expect(rest.body.items).toHaveLength(10);
      expect(rest.body.next_cursor).toBeNull();
      const big = await pulse.http.get('/api/runs').query({ namespace: 'page-b', limit: 500 }).set(pulse.admin).expect(200);
      expect(big.body.items).toHaveLength(60);
      expect(big.body.next_cursor).toBeNull();
      const ids = [...first.body.items, ...rest.body.items].map((r: { id: string }) => r.id);
      expect(new Set(ids)).toEqual(new Set(runsB));
    });

    it('runs: next_cursor walks every item exactly once, newest first', async () => {
      const items = await walk('/api/runs', { namespace: 'page-a', limit: 3 });
      expect(items.map((r) => r.id)).toEqual([...runsA].reverse());
      for (const r of items) {
        expect(Object.keys(r).sort()).toEqual(
          ['attempt', 'batch_id', 'created_at', 'exit_code', 'finished_at', 'host', 'id', 'logs', 'repo', 'started_at', 'state'].sort(),
        );
      }
      const one = await walk('/api/runs', { namespace: 'page-a', limit: 1 });
      expect(one.map((r) => r.id)).toEqual([...runsA].reverse());
    });

    it('runs: filters state, batch, namespace (and combined)', async () => {
      const canceled = await walk('/api/runs', { namespace: 'page-a', state: 'canceled' });
      expect(canceled.map((r) => r.id).sort()).toEqual([runsA[0], runsA[1]].sort());
      expect(canceled.every((r) => r.state === 'canceled')).toBe(true);
      const waiting = await walk('/api/runs', { batch: batchA, state: 'waiting', limit: 2 });
      expect(waiting.map((r) => r.id).sort()).toEqual(runsA.slice(2).sort());
      const byBatch = await walk('/api/runs', { batch: batchB, limit: 500 });
      expect(byBatch).toHaveLength(60);
      expect(byBatch.every((r) => r.batch_id === batchB)).toBe(true);
      expect(await walk('/api/runs', { batch: batchB, namespace: 'page-a' })).toEqual([]);
      expect(await walk('/api/runs', { namespace: 'page-a', state: 'finished' })).toEqual([]);
    });

    it('runs: filter runner', async () => {
      const { runner, run } = await running('filter-runner');
      await runner.complete(run, { status: 'finished', exitCode: 0 }).expect(200);
      const items = await walk('/api/runs', { runner: runner.id });
      expect(items.map((r) => r.id)).toEqual([run.id]);
      expect(items[0]).toMatchObject({ host: runner.id, state: 'finished', exit_code: 0 });
      expect(await walk('/api/runs', { runner: NIL })).toEqual([]);
    });

    it('400 for limit 0, 501, non-numbers, bad filters and unknown query fields', async () => {
      for (const query of [
        { limit: 0 },
        { limit: 501 },
        { limit: -1 },
        { limit: 'ten' },
        { limit: 2.5 },
        { state: 'sleeping' },
        { batch: 'not-a-uuid' },
        { runner: 'not-a-uuid' },
        { namespace: 'bad name' },
        { colour: 'red' },
      ]) {
        const res = await pulse.http.get('/api/runs').query(query).set(pulse.admin);
        expectError(res, 400);
        expect(messageOf(res)).toContain(Object.keys(query)[0]);
      }
      for (const path of ['/api/batches', '/api/runners']) {
        for (const limit of [0, 501]) expectError(await pulse.http.get(path).query({ limit }).set(pulse.admin), 400);
      }
      await pulse.http.get('/api/batches').query({ limit: 500 }).set(pulse.admin).expect(200);
      await pulse.http.get('/api/runners').query({ limit: 1 }).set(pulse.admin).expect(200);
    });

    it('a cursor the server did not issue is 400: garbage, forged, or from another list', async () => {
      const page = await pulse.http.get('/api/runs').query({ namespace: 'page-b', limit: 5 }).set(pulse.admin).expect(200);
      const cursor: string = page.body.next_cursor;
      const [payload, mac] = cursor.split('.');
      const forgedPayload = Buffer.from(Buffer.from(payload, 'base64url').toString().replace(/\d+$/, '999999999')).toString('base64url');
      const batches = await pulse.http.get('/api/batches').query({ limit: 1 }).set(pulse.admin).expect(200);
      for (const bad of [
        'garbage',
        `${forgedPayload}.${mac}`,
        `${payload}.${mac.slice(0, -2)}xx`,
        `${payload}.`,
        Buffer.from('run:10').toString('base64url'),
        batches.body.next_cursor as string,
        `${cursor}.extra`,
        'x'.repeat(1000),
        '%00',
      ]) {
        const res = await pulse.http.get('/api/runs').query({ namespace: 'page-b', cursor: bad }).set(pulse.admin);
        expectError(res, 400);
        expect(messageOf(res)).toContain('cursor');
      }
      for (const path of ['/api/batches', '/api/runners']) {
        expectError(await pulse.http.get(path).query({ cursor: 'garbage' }).set(pulse.admin), 400);
        expectError(await pulse.http.get(path).query({ cursor }).set(pulse.admin), 400);
      }
    });

    it('batches: newest first, filter namespace, pagination', async () => {
      const more = await submitted({ namespace: 'page-a', repos: [REPO_A] });
      const items = await walk('/api/batches', { namespace: 'page-a', limit: 1 });
      expect(items.map((b) => b.batch_id)).toEqual([more.batch_id, batchA]);
      expect(items[0]).toEqual({ batch_id: more.batch_id, namespace: 'page-a', created_at: expect.any(String) });
      expect(await walk('/api/batches', { namespace: 'page-nobody' })).toEqual([]);
      const all = await walk('/api/batches', { limit: 2 });
      const ids = all.map((b) => b.batch_id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids).toEqual(expect.arrayContaining([batchA, batchB, more.batch_id]));
      await pulse.http.delete(`/api/batches/${more.batch_id}`).set(pulse.admin).expect(200);
    });

    it('runners: pagination walks every runner exactly once', async () => {
      const ids = await Promise.all([1, 2, 3].map(async (n) => (await TestRunner.register(pulse, { name: `pager-${n}` })).id));
      const items = await walk('/api/runners', { limit: 2 });
      const listed = items.map((r) => r.runner_id);
      expect(new Set(listed).size).toBe(listed.length);
      expect(listed).toEqual(expect.arrayContaining(ids));
    });
  });

  describe('GET /api/runs/{id}', () => {
    it('has the list fields and the detail fields, env values hidden, never the messageId', async () => {
      const label = 'detail-1';
      const runner = await TestRunner.register(pulse, { labels: [label, 'extra'], framework: { name: 'shell' }, resources: { cpu: 8, memory: 8192, disk: 100000 } });
      await putNamespace(label).expect(201);
      const { batch_id, runs } = await submitted({
        namespace: label,
        labels: [label],
        env: { SECRET_TOKEN: 'hunter2-value', PLAIN: 'visible?' },
        timeout: 120,
        framework: 'shell',
        resources: { cpu: 2, memory: 1024, disk: 10 },
        priority: 5,
        max_attempts: 3,
        jobs: [{ payload: { mutant: 'm1' } }],
        repos: [REPO_A],
      });
      const waiting = await getRun(runs[0]);
      expect(waiting).toMatchObject({
        id: runs[0],
        batch_id,
        host: null,
        state: 'waiting',
        repo: REPO_A,
        logs: 0,
        exit_code: null,
        created_at: expect.any(String),
        started_at: null,
        finished_at: null,
        timeout: 120,
        labels: [label],
        framework: 'shell',
        resources: { cpu: 2, memory: 1024, disk: 10 },
        priority: 5,
        payload: { mutant: 'm1' },
        result: null,
        env: { SECRET_TOKEN: '***', PLAIN: '***' },
      });
      expect(waiting).toHaveProperty('attempt');
      expect(waiting).toHaveProperty('pending_reason');

      const run = (await runner.heartbeat()).run as Assignment;
      expect(run.id).toBe(runs[0]);
      expect(run.env).toEqual({ SECRET_TOKEN: 'hunter2-value', PLAIN: 'visible?' });
      await runner.update(run, 0, 'line\n').expect(200);
      const held = await getRun(run.id);
      expect(held).toMatchObject({ state: 'running', host: runner.id, attempt: 1, logs: 5, pending_reason: null, started_at: expect.any(String) });
      await runner.complete(run, { status: 'failed', exitCode: 2, outcome: 'Survived', data: { score: 1 }, logBytes: 5 }).expect(200);
      const done = await getRun(run.id);
      expect(done).toMatchObject({ state: 'failed', exit_code: 2, finished_at: expect.any(String), pending_reason: null, result: { outcome: 'Survived', data: { score: 1 } } });

      const views = [
        JSON.stringify(done),
        (await pulse.http.get('/api/runs').query({ batch: batch_id }).set(pulse.admin)).text,
        (await pulse.http.get(`/api/batches/${batch_id}`).set(pulse.admin)).text,
        (await pulse.http.get(`/api/runners/${runner.id}`).set(pulse.admin)).text,
        (await pulse.http.get('/api/runners').query({ limit: 500 }).set(pulse.admin)).text,
      ];
      for (const text of views) {
        expect(text).not.toContain(run.messageId);
        expect(text).not.toMatch(/message_?id/i);
        expect(text).not.toContain('hunter2-value');
        expect(text).not.toContain('visible?');
        expect(text).not.toContain(runner.token);
      }
    });

    it('pending_reason says why when no registered runner can match; null once running or final', async () => {
      await putNamespace('pending').expect(201);
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ labels: ['gpu-only-label'] }, /gpu-only-label/],
        [{ labels: ['pend-fw'], framework: 'stryker' }, /stryker/],
        [{ labels: ['pend-res'], resources: { cpu: 64, memory: 1, disk: 1 } }, /cpu|resources/],
      ];
      await TestRunner.register(pulse, { labels: ['pend-fw'], framework: { name: 'shell' } });
      await TestRunner.register(pulse, { labels: ['pend-res'], resources: { cpu: 4, memory: 4096, disk: 4096 } });
      for (const [body, why] of cases) {
        const { runs } = await submitted({ namespace: 'pending', ...body });
        const detail = await getRun(runs[0]);
        expect(detail.state).toBe('waiting');
        expect(detail.pending_reason).toEqual(expect.any(String));
        expect(detail.pending_reason).toMatch(/no registered runner/i);
        expect(detail.pending_reason).toMatch(why);
      }
    });

    it('pending_reason does not claim "no runner matches" when one does (a runner without declared resources takes any size)', async () => {
      const label = 'pend-unsized';
      const runner = await TestRunner.register(pulse, { labels: [label] });
      await putNamespace(label).expect(201);
      const { runs } = await submitted({ namespace: label, labels: [label], resources: { cpu: 2, memory: 512, disk: 1 } });
      const before = await getRun(runs[0]);
      expect(before.state).toBe('waiting');
      expect(before.pending_reason ?? '').not.toMatch(/no registered runner/i);
      // And indeed dispatch hands it to that runner.
      const run = (await runner.heartbeat()).run as Assignment;
      expect(run.id).toBe(runs[0]);
      expect((await getRun(runs[0])).pending_reason).toBeNull();
      await runner.complete(run, { status: 'finished', exitCode: 0 }).expect(200);
    });

    it('404 for an unknown id, 400 for a malformed one', async () => {
      expectError(await pulse.http.get(`/api/runs/${NIL}`).set(pulse.admin), 404);
      for (const bad of ['abc', '1234', `${NIL}x`, "' OR 1=1 --"]) {
        expectError(await pulse.http.get(`/api/runs/${encodeURIComponent(bad)}`).set(pulse.admin), 400);
      }
    });
  });

  describe('cancel', () => {
    it('DELETE a waiting run: canceled at once; again: 200 and unchanged', async () => {
      await putNamespace('cancel-w').expect(201);
      const { runs } = await submitted({ namespace: 'cancel-w' });
      const res = await pulse.http.delete(`/api/runs/${runs[0]}`).set(pulse.admin).expect(200);
      expect(res.body).toMatchObject({ id: runs[0], state: 'canceled', finished_at: expect.any(String) });
      expect((await getRun(runs[0])).state).toBe('canceled');
      const again = await pulse.http.delete(`/api/runs/${runs[0]}`).set(pulse.admin).expect(200);
      expect(again.body.state).toBe('canceled');
    });

    it('DELETE a running run: the runner is told in heartbeat and update responses; canceled when it confirms', async () => {
      const { runner, run } = await running('cancel-r');
      expect((await runner.heartbeat({ status: 'busy', runs: [run.id] })).cancel).toBeUndefined();
      const res = await pulse.http.delete(`/api/runs/${run.id}`).set(pulse.admin).expect(200);
      expect(res.body.state).toBe('running');
      expect((await getRun(run.id)).state).toBe('running');
      const hb = await runner.heartbeat({ status: 'busy', runs: [run.id] });
      expect(hb.cancel).toEqual([run.id]);
      expect(hb.run).toBeUndefined();
      const up = await runner.update(run, 0, 'stopping\n').expect(200);
      expect(up.body).toEqual({ offset: 9, cancel: true });
      await runner.complete(run, { status: 'canceled', exitCode: 143, logBytes: 9 }).expect(200);
      expect(await getRun(run.id)).toMatchObject({ state: 'canceled', finished_at: expect.any(String) });
      // A final run cannot be canceled (other than canceled again).
      await pulse.http.delete(`/api/runs/${run.id}`).set(pulse.admin).expect(200);
    });

    it('DELETE an offer the runner has not acknowledged yet: canceled at once, and the runner is told', async () => {
      const label = 'cancel-o';
      const runner = await TestRunner.register(pulse, { labels: [label] });
      await putNamespace(label).expect(201);
      const { runs } = await submitted({ namespace: label, labels: [label] });
      const offer = (await runner.heartbeat()).run as Assignment;
      expect(offer.id).toBe(runs[0]);
      const res = await pulse.http.delete(`/api/runs/${offer.id}`).set(pulse.admin).expect(200);
      expect(res.body.state).toBe('canceled');
      expect((await runner.heartbeat({ status: 'ready', runs: [offer.id] })).cancel).toEqual([offer.id]);
      expect((await runner.heartbeat()).run).toBeUndefined();
      expectError(await runner.update(offer, 0, 'x'), 409);
    });

    it('DELETE a finished run: 409; unknown: 404; malformed: 400', async () => {
      const { runner, run } = await running('cancel-f');
      await runner.complete(run, { status: 'finished', exitCode: 0 }).expect(200);
      expectError(await pulse.http.delete(`/api/runs/${run.id}`).set(pulse.admin), 409);
      expect((await getRun(run.id)).state).toBe('finished');
      expectError(await pulse.http.delete(`/api/runs/${NIL}`).set(pulse.admin), 404);
      expectError(await pulse.http.delete('/api/runs/nope').set(pulse.admin), 400);
    });

    it('DELETE /api/batches/{id} cancels every run that is not final and returns the batch grouped by state', async () => {
      const label = 'cancel-b';
      const runner = await TestRunner.register(pulse, { labels: [label] });
      await putNamespace(label, [REPO_A, REPO_B, REPO_C]).expect(201);
      const { batch_id, runs } = await submitted({ namespace: label, labels: [label], jobs: [{ repo: REPO_A }, { repo: REPO_B }, { repo: REPO_C }, { repo: REPO_A }] });
      const first = (await runner.heartbeat()).run as Assignment;
      await runner.complete(first, { status: 'finished', exitCode: 0 }).expect(200);
      const second = (await runner.heartbeat()).run as Assignment;
      await runner.update(second, 0, '').expect(200);
      const view = (await pulse.http.get(`/api/batches/${batch_id}`).set(pulse.admin).expect(200)).body;
      expect(view).toEqual({
        batch_id,
        namespace: label,
        created_at: expect.any(String),
        run_waiting: runs.filter((id) => id !== first.id && id !== second.id),
        run_running: [second.id],
        run_finished: [first.id],
        run_failed: [],
        run_canceled: [],
        run_timeout: [],
      });
      const canceled = (await pulse.http.delete(`/api/batches/${batch_id}`).set(pulse.admin).expect(200)).body;
      expect(canceled).toMatchObject({
        batch_id,
        namespace: label,
        run_waiting: [],
        run_running: [second.id],
        run_finished: [first.id],
      });
      expect([...canceled.run_canceled].sort()).toEqual(runs.filter((id) => id !== first.id && id !== second.id).sort());
      expect((await runner.heartbeat({ status: 'busy', runs: [second.id] })).cancel).toEqual([second.id]);
      await runner.complete(second, { status: 'canceled' }).expect(200);
      const after = (await pulse.http.get(`/api/batches/${batch_id}`).set(pulse.admin).expect(200)).body;
      expect(after.run_running).toEqual([]);
      expect(after.run_canceled).toHaveLength(3);
      expectError(await pulse.http.delete(`/api/batches/${NIL}`).set(pulse.admin), 404);
      expectError(await pulse.http.get(`/api/batches/${NIL}`).set(pulse.admin), 404);
      expectError(await pulse.http.get('/api/batches/not-a-uuid').set(pulse.admin), 400);
      expectError(await pulse.http.delete('/api/batches/not-a-uuid').set(pulse.admin), 400);
    });
  });

  describe('logs', () => {
    it('GET /api/runs/{id}/logs is text/plain; ?offset=n from byte n', async () => {
      const { runner, run } = await running('logs-1');
      await runner.update(run, 0, 'héllo\nwörld\n').expect(200);
      const all = await pulse.http.get(`/api/runs/${run.id}/logs`).set(pulse.admin).expect(200);
      expect(all.headers['content-type']).toMatch(/^text\/plain/);
      expect(all.text).toBe('héllo\nwörld\n');
      expect((await pulse.http.get(`/api/runs/${run.id}/logs?offset=7`).set(pulse.admin).expect(200)).text).toBe('wörld\n');
      expect((await pulse.http.get(`/api/runs/${run.id}/logs?offset=14`).set(pulse.admin).expect(200)).text).toBe('');
      expect((await pulse.http.get(`/api/runs/${run.id}/logs?offset=1000`).set(pulse.admin).expect(200)).text).toBe('');
      for (const q of ['offset=-1', 'offset=abc', 'offset=1.5', 'offset=99999999999999999999', 'follow=yes', 'colour=red']) {
        expectError(await pulse.http.get(`/api/runs/${run.id}/logs?${q}`).set(pulse.admin), 400);
      }
      expectError(await pulse.http.get(`/api/runs/${NIL}/logs`).set(pulse.admin), 404);
      expectError(await pulse.http.get(`/api/runs/${NIL}/logs?follow=1`).set(pulse.admin), 404);
      expectError(await pulse.http.get('/api/runs/nope/logs').set(pulse.admin), 400);
      await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: 14 }).expect(200);
    });

    it('?follow=1 streams chunks appended while it is open and ends when the run becomes final', async () => {
      const { runner, run } = await running('logs-follow');
      await runner.update(run, 0, 'one\n').expect(200);
      const f = await follow(pulse, `/api/runs/${run.id}/logs?follow=1`);
      try {
        expect(f.status).toBe(200);
        expect(f.headers['content-type']).toMatch(/^text\/plain/);
        expect(f.headers['transfer-encoding']).toBe('chunked');
        await eventually(async () => f.text() === 'one\n');
        await runner.update(run, 4, 'two\n').expect(200);
        await eventually(async () => f.text() === 'one\ntwo\n');
        expect(f.isEnded()).toBe(false);
        await runner.update(run, 8, 'thrée\n').expect(200);
        await eventually(async () => f.text() === 'one\ntwo\nthrée\n');
        expect(f.isEnded()).toBe(false);
        await runner.update(run, 15, 'last\n').expect(200);
        await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: 20 }).expect(200);
        expect(await within(f.ended, 15000, 'the end of the followed log')).toBe('one\ntwo\nthrée\nlast\n');
      } finally {
        f.close();
      }
    });

    it('?follow=1 with an offset, and on a run that is already final, sends what is stored and ends', async () => {
      const { runner, run } = await running('logs-follow-2');
      await runner.update(run, 0, 'abcdef').expect(200);
      const f = await follow(pulse, `/api/runs/${run.id}/logs?follow=1&offset=2`);
      try {
        await eventually(async () => f.text() === 'cdef');
        await pulse.http.delete(`/api/runs/${run.id}`).set(pulse.admin).expect(200);
        await runner.update(run, 6, 'gh').expect(200);
        await runner.complete(run, { status: 'canceled', logBytes: 8 }).expect(200);
        expect(await within(f.ended, 15000, 'the end of the followed log')).toBe('cdefgh');
      } finally {
        f.close();
      }
      const final = await within(
        pulse.http.get(`/api/runs/${run.id}/logs?follow=1`).set(pulse.admin).buffer(true).parse((res, done) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => done(null, text));
        }),
        15000,
        'follow of a final run',
      );
      expect(final.status).toBe(200);
      expect(final.body).toBe('abcdefgh');
      const f2 = await follow(pulse, `/api/runs/${run.id}/logs?follow=true&offset=6`);
      expect(await within(f2.ended, 15000, 'follow of a final run from an offset')).toBe('gh');
    });

    it('?follow=1 on a waiting run streams once it runs; a follower that goes away harms nothing', async () => {
      const label = 'logs-follow-3';
      await putNamespace(label).expect(201);
      const { runs } = await submitted({ namespace: label, labels: [label] });
      const f = await follow(pulse, `/api/runs/${runs[0]}/logs?follow=1`);
      const quitter = await follow(pulse, `/api/runs/${runs[0]}/logs?follow=1`);
      quitter.close();
      try {
        const runner = await TestRunner.register(pulse, { labels: [label] });
        const run = (await runner.heartbeat()).run as Assignment;
        await runner.update(run, 0, 'started\n').expect(200);
        await eventually(async () => f.text() === 'started\n');
        expect(f.isEnded()).toBe(false);
        await runner.complete(run, { status: 'failed', exitCode: 1, logBytes: 8 }).expect(200);
        expect(await within(f.ended, 15000, 'the end of the followed log')).toBe('started\n');
      } finally {
        f.close();
      }
      await pulse.http.get('/api/health').expect(200);
    });
  });

  describe('runners', () => {
    const framework = {
      name: 'shell',
      version: '1.2.3',
      system: { ci: true, os: { description: 'Debian', platform: 'linux', version: '12' }, cpu: { baseClock: 3000, logicalCores: 8, model: 'x' }, ram: { total: 16 } },
    };

    it('list fields and detail fields; runner_run newest first; state follows its run', async () => {
      const label = 'runner-admin';
      const runner = await TestRunner.register(pulse, { name: 'build-7', labels: [label, 'linux'], framework, resources: { cpu: 8, memory: 16384, disk: 50000 } });
      const listed = (await pulse.http.get('/api/runners').query({ limit: 500 }).set(pulse.admin).expect(200)).body.items.find(
        (r: { runner_id: string }) => r.runner_id === runner.id,
      );
      expect(listed).toMatchObject({
        runner_id: runner.id,
        name: 'build-7',
        state: 'waiting',
        enabled: true,
        current_run: null,
        labels: [label, 'linux'],
        last_heartbeat_at: null, // no heartbeat yet
      });

      await putNamespace(label).expect(201);
      const { runs } = await submitted({ namespace: label, labels: [label], jobs: [{ repo: REPO_A }, { repo: REPO_A }] });
      const first = (await runner.heartbeat({ status: 'ready', runs: [], usage: { cpu: 0.5, memory: 100, disk: 10 } })).run as Assignment;
      await runner.update(first, 0, '').expect(200);
      let detail = (await pulse.http.get(`/api/runners/${runner.id}`).set(pulse.admin).expect(200)).body;
      expect(detail).toMatchObject({
        runner_id: runner.id,
        name: 'build-7',
        state: 'running',
        enabled: true,
        current_run: first.id,
        labels: [label, 'linux'],
        last_heartbeat_at: expect.any(String),
        runner_ip: expect.stringMatching(/127\.0\.0\.1/),
        runner_run: [first.id],
        framework,
        system: framework.system,
        resources: { cpu: 8, memory: 16384, disk: 50000 },
        usage: { cpu: 0.5, memory: 100, disk: 10 },
        registered_at: expect.any(String),
      });
      await runner.complete(first, { status: 'finished', exitCode: 0 }).expect(200);
      const second = (await runner.heartbeat()).run as Assignment;
      expect([first.id, second.id].sort()).toEqual([...runs].sort());
      await runner.complete(second, { status: 'finished', exitCode: 0 }).expect(200);
      detail = (await pulse.http.get(`/api/runners/${runner.id}`).set(pulse.admin).expect(200)).body;
      expect(detail).toMatchObject({ state: 'waiting', current_run: null, runner_run: [second.id, first.id] });
    });

    it('disable and enable: a disabled runner keeps heartbeating but receives no run', async () => {
      const label = 'runner-switch';
      const runner = await TestRunner.register(pulse, { labels: [label] });
      await putNamespace(label).expect(201);
      const { runs } = await submitted({ namespace: label, labels: [label] });
      const off = await pulse.http.post(`/api/runners/${runner.id}/disable`).set(pulse.admin).expect(200);
      expect(off.body).toMatchObject({ runner_id: runner.id, enabled: false });
      const hb = await runner.heartbeat();
      expect(hb.run).toBeUndefined();
      expect(hb.status).toBe('ok');
      expect((await getRun(runs[0])).state).toBe('waiting');
      expect((await getRun(runs[0])).pending_reason).toMatch(/disabled/);
      const on = await pulse.http.post(`/api/runners/${runner.id}/enable`).set(pulse.admin).expect(200);
      expect(on.body.enabled).toBe(true);
      const run = (await runner.heartbeat()).run as Assignment;
      expect(run.id).toBe(runs[0]);
      await runner.complete(run, { status: 'finished', exitCode: 0 }).expect(200);
    });

    it('DELETE deregisters: its token gets 403, its run goes back to the queue, it can never be enabled again', async () => {
      const { runner, run } = await running('runner-del');
      const res = await pulse.http.delete(`/api/runners/${runner.id}`).set(pulse.admin).expect(200);
      expect(res.body).toMatchObject({ runner_id: runner.id, enabled: false, state: 'dead', current_run: null });
      expect(res.body.deregistered).toBe(true);
      const hb = await runner.heartbeatRaw({ status: 'ready' });
      expectError(hb, 403);
      expect(hb.body).toEqual({ statusCode: 403, message: 'Forbidden resource', error: 'Forbidden' });
      expectError(await runner.update(run, 0, 'late'), 403);
      expect(await getRun(run.id)).toMatchObject({ state: 'waiting', host: null });
      expectError(await pulse.http.post(`/api/runners/${runner.id}/enable`).set(pulse.admin), 409);
      await pulse.http.delete(`/api/runners/${runner.id}`).set(pulse.admin).expect(200);
      await pulse.http.delete(`/api/runs/${run.id}`).set(pulse.admin).expect(200);
    });

    it('404 for unknown ids and 400 for malformed ones', async () => {
      for (const [method, suffix] of [
        ['get', ''],
        ['delete', ''],
        ['post', '/enable'],
        ['post', '/disable'],
      ] as const) {
        expectError(await pulse.http[method](`/api/runners/${NIL}${suffix}`).set(pulse.admin), 404);
        expectError(await pulse.http[method](`/api/runners/not-a-uuid${suffix}`).set(pulse.admin), 400);
      }
    });
  });

  describe('failures (SPEC section 7)', () => {
    it('invalid JSON is a 400 JSON error, on admin and runner routes', async () => {
      for (const [path, method] of [
        ['/api/runs', 'post'],
        ['/api/namespaces', 'put'],
        ['/api/runner/registration', 'post'],
      ] as const) {
        const res = await pulse.http[method](path).set(pulse.admin).set('content-type', 'application/json').send('{"namespace": ');
        expectError(res, 400);
      }
      const notAnObject = await pulse.http.post('/api/runs').set(pulse.admin).set('content-type', 'application/json').send('[1,2]');
      expectError(notAnObject, 400);
      const empty = await pulse.http.post('/api/runs').set(pulse.admin).set('content-type', 'application/json').send('');
      expect([400, 415]).toContain(empty.status);
      expectNoStack(empty);
    });

    it('a NUL character is bad input (400), never a 500, on the runner routes too', async () => {
      const res = await pulse.http
        .post('/api/runner/registration')
        .send({ token: 'test-registration-token-0123456789', name: 'bad\u0000name' });
      expectError(res, 400);
      const runner = await TestRunner.register(pulse);
      expectError(await runner.heartbeatRaw({ status: 'busy', framework: { name: 'shell\u0000' } }), 400);
      await runner.heartbeat({ status: 'busy', runs: [] });
    });

    it('unknown routes get a JSON 404 without a stack trace', async () => {
      expectError(await pulse.http.get('/api/nothing-here').set(pulse.admin), 404);
      expectError(await pulse.http.patch('/api/runs').set(pulse.admin).send({}), 404);
    });
  });
});

/** Settings that need their own orchestrator: CANCEL_GRACE and the body limit. */
describe('tight limits (CANCEL_GRACE=1, BODY_LIMIT_BYTES=2048)', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse({ CANCEL_GRACE: '1', BODY_LIMIT_BYTES: '2048' });
  }, 120000);
  afterAll(() => pulse?.close());

  it('a running run whose runner never confirms the cancel is canceled after CANCEL_GRACE', async () => {
    const runner = await TestRunner.register(pulse, { labels: ['grace'] });
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'grace', repositories: [REPO_A] }).expect(201);
    const submission = await pulse.http.post('/api/runs').set(pulse.admin).send({ namespace: 'grace', script: 'sleep 100', labels: ['grace'] }).expect(201);
    const run = (await runner.heartbeat()).run as Assignment;
    expect(run.id).toBe(submission.body.runs[0]);
    await runner.update(run, 0, '').expect(200);
    await pulse.http.delete(`/api/runs/${run.id}`).set(pulse.admin).expect(200);
    // The runner keeps saying it runs the run and never completes it.
    const final = await eventually(async () => {
      const hb = await runner.heartbeat({ status: 'busy', runs: [run.id] });
      expect(hb.cancel).toEqual([run.id]);
      const detail = (await pulse.http.get(`/api/runs/${run.id}`).set(pulse.admin).expect(200)).body;
      return detail.state === 'canceled' ? detail : undefined;
    });
    expect(final).toMatchObject({ state: 'canceled', finished_at: expect.any(String) });
    const late = await runner.update(run, 0, 'late');
    expectError(late, 409);
    // The runner is free again.
    const runner2 = (await pulse.http.get(`/api/runners/${runner.id}`).set(pulse.admin).expect(200)).body;
    expect(runner2.current_run).toBeNull();
  });

  it('a body over BODY_LIMIT_BYTES gets 413 JSON, on admin and runner routes', async () => {
    const repositories = Array.from({ length: 100 }, (_, i) => `https://example.com/some/long/repository/path-${i}.git`);
    const res = await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'big', repositories });
    expectError(res, 413);
    expect(res.body.error).toBe('Payload Too Large');
    expectError(await pulse.http.get('/api/namespaces/big').set(pulse.admin), 404);
    const runs = await pulse.http.post('/api/runs').set(pulse.admin).send({ namespace: 'grace', script: 'x'.repeat(5000) });
    expectError(runs, 413);
    const runner = await TestRunner.register(pulse);
    const hb = await runner.heartbeatRaw({ status: 'ready', framework: { name: 'shell', blob: 'y'.repeat(5000) } });
    expectError(hb, 413);
    // Just under the limit is fine.
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'small', repositories: repositories.slice(0, 10) }).expect(201);
  });
});
