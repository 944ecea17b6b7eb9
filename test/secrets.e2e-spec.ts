/**
 * Secrets (SPEC section 11), end to end: the write-only routes, submissions that name secrets,
 * values only in the assignment, masking by the real runner and by the server, nothing in clear
 * at rest, and the key ring at start-up and across a rewrap.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Response } from 'supertest';
import { TestRunner, submit } from './support/protocol';
import { eventually, spawnPulse, startPulse, testDatabaseUrl, type TestPulse } from './support/pulse';
import {
  cleanupRunner,
  getRun,
  makeGitRepo,
  readLog,
  registerRunner,
  startRunner,
  waitForFinal,
  type RegisteredRunner,
  type RunnerProcess,
} from './support/runner';

const FAST = { HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '2', RUNNER_DEAD_AFTER: '10' };

/** A value with characters that JSON, URLs and base64 all treat differently. */
const VALUE = `s3cr3t-"quoted"/päss w0rd+=&${randomBytes(4).toString('hex')}`;

/** Every file under `dir`, read as bytes. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else if (st.isFile()) out.push(path);
  }
  return out;
}

function expectNoValue(res: Response, ...values: string[]): void {
  for (const v of values) expect(res.text ?? '').not.toContain(v);
}

function key(): string {
  return randomBytes(32).toString('base64');
}

describe('secrets: routes, submissions and delivery', () => {
  let pulse: TestPulse;
  const used: string[] = [VALUE];

  beforeAll(async () => {
    pulse = await startPulse(FAST);
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'app', repositories: ['https://example.com/a.git'] }).expect(201);
  });

  afterAll(async () => {
    // No server log line (requests, errors, anything) ever held a value.
    const output = pulse?.proc.output() ?? '';
    await pulse?.close();
    for (const v of used) expect(output).not.toContain(v);
  });

  const put = (ns: string, name: string, body: unknown) => pulse.http.put(`/api/namespaces/${ns}/secrets/${name}`).set(pulse.admin).send(body as object);

  it('creates (201), replaces (200, created_at kept), lists and deletes (204), never returning a value', async () => {
    const created = await put('app', 'DEPLOY_TOKEN', { value: VALUE }).expect(201);
    expect(Object.keys(created.body).sort()).toEqual(['created_at', 'name', 'updated_at']);
    expect(created.body.name).toBe('DEPLOY_TOKEN');
    expectNoValue(created, VALUE);

    const replaced = await put('app', 'DEPLOY_TOKEN', { value: `${VALUE}-2` }).expect(200);
    used.push(`${VALUE}-2`);
    expect(replaced.body.created_at).toBe(created.body.created_at);
    expect(new Date(replaced.body.updated_at).getTime()).toBeGreaterThanOrEqual(new Date(created.body.updated_at).getTime());

    await put('app', 'OTHER', { value: 'other-value-0123' }).expect(201);
    used.push('other-value-0123');
    const list = await pulse.http.get('/api/namespaces/app/secrets').set(pulse.admin).expect(200);
    expect(list.body.map((s: { name: string }) => s.name)).toEqual(['DEPLOY_TOKEN', 'OTHER']);
    expect(list.body[0]).toEqual({ name: 'DEPLOY_TOKEN', created_at: created.body.created_at, updated_at: replaced.body.updated_at });
    expectNoValue(list, VALUE, 'other-value-0123');

    const deleted = await pulse.http.delete('/api/namespaces/app/secrets/OTHER').set(pulse.admin).expect(204);
    expect(deleted.text).toBe('');
    await pulse.http.delete('/api/namespaces/app/secrets/OTHER').set(pulse.admin).expect(404);
    await put('app', 'DEPLOY_TOKEN', { value: VALUE }).expect(200);

    // The audit log (SPEC section 12) has each set and delete, with names only, never a value.
    const audit = await pulse.http.get('/api/audit?limit=500').set(pulse.admin).expect(200);
    const entries = (audit.body.items as Array<{ action: string; subject: { type: string; id: string } }>).filter((e) => e.action.startsWith('secret.'));
    expect(entries.filter((e) => e.action === 'secret.set').map((e) => e.subject.id).sort()).toEqual([
      'app/DEPLOY_TOKEN',
      'app/DEPLOY_TOKEN',
      'app/DEPLOY_TOKEN',
      'app/OTHER',
    ]);
    expect(entries.filter((e) => e.action === 'secret.deleted').map((e) => e.subject)).toEqual([{ type: 'secret', id: 'app/OTHER' }]);
    expectNoValue(audit, VALUE, `${VALUE}-2`, 'other-value-0123');
  });

  it('refuses bad input with a 400 that names the field and never echoes the value', async () => {
    const cases: Array<{ name?: string; body: unknown; message: RegExp; secret?: string }> = [
      { body: { value: 'seven77' }, message: /value must be 8 to 65536 bytes/, secret: 'seven77' },
      { body: { value: 'x'.repeat(65537) }, message: /value must be 8 to 65536 bytes/, secret: 'x'.repeat(65537) },
      { body: { value: '  \n\t   \n  ' }, message: /value must not be only whitespace/ },
      { body: { value: 'nul-inside\u0000-value' }, message: /value must not contain a NUL/, secret: 'nul-inside' },
      { body: { value: 12345678901 }, message: /value must be a string/, secret: '12345678901' },
      { body: { value: ['array-held-value'] }, message: /value must be a string/, secret: 'array-held-value' },
      { body: {}, message: /value must be a string/ },
      { body: { value: 'fine-value-1234', extra: 'extra-held-value' }, message: /property extra should not exist/, secret: 'extra-held-value' },
      { name: '1BAD', body: { value: 'good-value-1234' }, message: /secret name must be an environment variable name/, secret: 'good-value-1234' },
      { name: 'has-dash', body: { value: 'good-value-1234' }, message: /secret name must be an environment variable name/, secret: 'good-value-1234' },
    ];
    for (const c of cases) {
      const res = await put('app', c.name ?? 'BAD_INPUT', c.body).expect(400);
      const text = JSON.stringify(res.body.message);
      expect(text).toMatch(c.message);
      if (c.secret) expectNoValue(res, c.secret);
      if (c.secret) used.push(c.secret);
    }
    // Not JSON at all: the parser's message must not quote the body either.
    const broken = await pulse.http
      .put('/api/namespaces/app/secrets/BROKEN')
      .set(pulse.admin)
      .set('content-type', 'application/json')
      .send('{"value": unquoted-broken-value}')
      .expect(400);
    expectNoValue(broken, 'unquoted-broken-value');
    used.push('unquoted-broken-value');
    const list = await pulse.http.get('/api/namespaces/app/secrets').set(pulse.admin).expect(200);
    expect(list.body.map((s: { name: string }) => s.name)).toEqual(['DEPLOY_TOKEN']);
  });

  it('answers 404 for an unknown namespace or secret, 401 without the admin token', async () => {
    await put('nope', 'TOKEN', { value: 'some-value-1234' }).expect(404);
    await pulse.http.get('/api/namespaces/nope/secrets').set(pulse.admin).expect(404);
    await pulse.http.delete('/api/namespaces/nope/secrets/TOKEN').set(pulse.admin).expect(404);
    await pulse.http.delete('/api/namespaces/app/secrets/MISSING').set(pulse.admin).expect(404);
    await pulse.http.put('/api/namespaces/app/secrets/TOKEN').send({ value: 'some-value-1234' }).expect(401);
    await pulse.http.get('/api/namespaces/app/secrets').expect(401);
    await pulse.http.delete('/api/namespaces/app/secrets/DEPLOY_TOKEN').expect(401);
    used.push('some-value-1234');
  });

  it('refuses a submission naming a secret the namespace lacks, or one env also sets', async () => {
    const unknown = await pulse.http.post('/api/runs').set(pulse.admin).send({ namespace: 'app', script: 'true', secrets: ['DEPLOY_TOKEN', 'NOPE'] }).expect(400);
    expect(unknown.body.message).toMatch(/secrets\.1 "NOPE" is not a secret of namespace "app"/);
    const clash = await pulse.http
      .post('/api/runs')
      .set(pulse.admin)
      .send({ namespace: 'app', script: 'true', secrets: ['DEPLOY_TOKEN'], env: { DEPLOY_TOKEN: 'x' } })
      .expect(400);
    expect(clash.body.message).toMatch(/env sets DEPLOY_TOKEN, which secrets also names/);
    const bad = await pulse.http.post('/api/runs').set(pulse.admin).send({ namespace: 'app', script: 'true', secrets: ['not-a-name'] }).expect(400);
    expect(JSON.stringify(bad.body.message)).toMatch(/secrets must be environment variable names/);
  });

  it('delivers values only in the assignment (env + masked); the run lists names only; the server masks a runner that does not', async () => {
    const runner = await TestRunner.register(pulse, { name: 'plain' });
    const { runs } = await submit(pulse, { namespace: 'app', secrets: ['DEPLOY_TOKEN'], env: { PLAIN: 'visible' } });
    const beat = await runner.heartbeat();
    const run = beat.run as NonNullable<typeof beat.run> & { masked?: string[] };
    expect(run.id).toBe(runs[0]);
    expect(run.env).toEqual({ PLAIN: 'visible', DEPLOY_TOKEN: VALUE });
    expect(run.masked).toEqual(['DEPLOY_TOKEN']);

    const view = await pulse.http.get(`/api/runs/${run.id}`).set(pulse.admin).expect(200);
    expect(view.body.secrets).toEqual(['DEPLOY_TOKEN']);
    expect(Object.keys(view.body.env)).toEqual(['PLAIN']);
    expectNoValue(view, VALUE);

    // This runner does not mask: it sends the value in clear, cut across two updates.
    const bytes = Buffer.from(VALUE);
    const firstBytes = Buffer.concat([Buffer.from('token: '), bytes.subarray(0, 9)]);
    const secondBytes = Buffer.concat([bytes.subarray(9), Buffer.from(' done\nagain ' + VALUE + '\n')]);
    const a = await runner.update(run, 0, firstBytes.toString('utf8')).expect(200);
    expect(a.body.offset).toBe(firstBytes.length);
    const b = await runner.update(run, firstBytes.length, secondBytes.toString('utf8')).expect(200);
    expect(b.body.offset).toBe(firstBytes.length + secondBytes.length);
    const stars = '*'.repeat(bytes.length);
    let log = await readLog(pulse, run.id);
    expect(log).toBe(`token: ${stars} done\nagain ${stars}\n`);
    expect(Buffer.byteLength(log)).toBe(firstBytes.length + secondBytes.length);

    // More updates: a large (deflated) chunk ending in the value's first bytes, the rest of it in
    // the next one, a clean line, then the whole value again.
    const filler = 'compiling module ok\n'.repeat(200);
    const more = [
      Buffer.concat([Buffer.from(filler), bytes.subarray(0, 5)]),
      Buffer.concat([bytes.subarray(5), Buffer.from('\n')]),
      Buffer.from('clean line\n'),
      Buffer.from(`last ${VALUE} end\n`),
    ];
    let offset = firstBytes.length + secondBytes.length;
    for (const piece of more) {
      const res = await runner.update(run, offset, piece.toString('utf8')).expect(200);
      offset += piece.length;
      expect(res.body.offset).toBe(offset);
    }
    log = await readLog(pulse, run.id);
    expect(log).toBe(`token: ${stars} done\nagain ${stars}\n${filler}${stars}\nclean line\nlast ${stars} end\n`);
    expect(Buffer.byteLength(log)).toBe(offset);
    await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: offset }).expect(200);

    // Each catch is in the audit log: the secret's name, the run and its runner; never the value.
    await eventually(async () => {
      const audit = await pulse.http.get('/api/audit?action=secret.leak_caught').set(pulse.admin).expect(200);
      return (audit.body.items as unknown[]).length >= 1;
    }, 10000);
    const caught = await pulse.http.get('/api/audit?action=secret.leak_caught').set(pulse.admin).expect(200);
    for (const e of caught.body.items as Array<{ actor: { type: string; id: string }; subject: { id: string }; data: { run: string } }>) {
      expect(e).toMatchObject({ actor: { type: 'runner', id: runner.id }, subject: { id: 'app/DEPLOY_TOKEN' }, data: { run: run.id } });
    }
    expectNoValue(caught, VALUE);
  });

  it('fails a run at dispatch when its secret was deleted meanwhile', async () => {
    await put('app', 'SHORT_LIVED', { value: 'short-lived-value' }).expect(201);
    used.push('short-lived-value');
    const runner = await TestRunner.register(pulse, { name: 'late' });
    const { runs } = await submit(pulse, { namespace: 'app', secrets: ['SHORT_LIVED'] });
    await pulse.http.delete('/api/namespaces/app/secrets/SHORT_LIVED').set(pulse.admin).expect(204);
    const beat = await runner.heartbeat();
    expect(beat.run).toBeUndefined();
    const failed = await getRun(pulse, runs[0]);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toBe('secret SHORT_LIVED was deleted');
  });

  it('documents the routes and the new fields in the OpenAPI document', async () => {
    const doc = (await pulse.http.get('/api/docs-json').expect(200)).body;
    const put = doc.paths['/api/namespaces/{name}/secrets/{secret}']?.put;
    expect(Object.keys(put.responses)).toEqual(expect.arrayContaining(['200', '201', '400', '401', '404']));
    expect(put.requestBody.content['application/json'].schema.$ref).toMatch(/PutSecretRequest$/);
    expect(Object.keys(doc.paths['/api/namespaces/{name}/secrets'].get.responses)).toEqual(expect.arrayContaining(['200', '401', '404']));
    expect(Object.keys(doc.paths['/api/namespaces/{name}/secrets/{secret}'].delete.responses)).toEqual(expect.arrayContaining(['204', '401', '404']));
    const schemas = doc.components.schemas;
    expect(Object.keys(schemas.SecretResponse.properties).sort()).toEqual(['created_at', 'name', 'updated_at']);
    expect(schemas.RunAssignment.properties.masked).toBeDefined();
    expect(schemas.SubmitRunsRequest.properties.secrets).toBeDefined();
    expect(schemas.RunDetail.properties.secrets).toBeDefined();
  });

  it("deletes a namespace's secrets with the namespace", async () => {
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'gone', repositories: ['r'] }).expect(201);
    await put('gone', 'TOKEN', { value: 'namespace-bound-1' }).expect(201);
    used.push('namespace-bound-1');
    await pulse.http.delete('/api/namespaces/gone').set(pulse.admin).expect(200);
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'gone', repositories: ['r'] }).expect(201);
    const list = await pulse.http.get('/api/namespaces/gone/secrets').set(pulse.admin).expect(200);
    expect(list.body).toEqual([]);
  });
});

describe('secrets: the real runner masks them; nothing in clear at rest', () => {
  let pulse: TestPulse;
  let repo: string;
  let runner: RegisteredRunner;
  let proc: RunnerProcess;
  /** A multi-line value (like a key file), long enough that `base64` wraps it. */
  const KEY = `-----BEGIN TEST KEY-----\nline-one-of-the-key-${randomBytes(8).toString('hex')}\nline-two-of-the-key-${randomBytes(16).toString('hex')}\n-----END TEST KEY-----`;

  beforeAll(async () => {
    pulse = await startPulse(FAST);
    repo = makeGitRepo();
    runner = await registerRunner(pulse, { name: 'masking', labels: ['secrets'] });
    proc = startRunner(runner);
  });

  afterAll(async () => {
    await proc?.stop();
    if (runner) cleanupRunner(runner);
    if (repo) rmSync(repo, { recursive: true, force: true });
    const output = pulse?.proc.output() ?? '';
    await pulse?.close();
    expect(output).not.toContain(VALUE);
  });

  it('stores [MASKED] for the value printed plainly, in pieces, base64-, URL- and JSON-encoded; nothing is found at rest', async () => {
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'ci', repositories: [repo] }).expect(201);
    await pulse.http.put('/api/namespaces/ci/secrets/TOKEN').set(pulse.admin).send({ value: VALUE }).expect(201);
    await pulse.http.put('/api/namespaces/ci/secrets/KEY').set(pulse.admin).send({ value: KEY }).expect(201);
    const script = [
      'echo "plain: $TOKEN"',
      // Cut by printf pieces with pauses longer than the runner's flush interval.
      'printf "split: %s" "${TOKEN:0:3}"; sleep 1.5; printf "%s" "${TOKEN:3:7}"; sleep 1.5; printf "%s\\n" "${TOKEN:10}"',
      'echo "b64: $(echo "$TOKEN" | base64)"',
      'echo "b64n: $(printf %s "$TOKEN" | base64)"',
      `echo "url: $(node -e 'process.stdout.write(encodeURIComponent(process.env.TOKEN))')"`,
      `echo "json: $(node -e 'process.stdout.write(JSON.stringify({token: process.env.TOKEN}))')"`,
      'echo "key:"; echo "$KEY"',
      'echo "key64:"; echo "$KEY" | base64',
      'echo done',
    ];
    const res = await pulse.http
      .post('/api/runs')
      .set(pulse.admin)
      .send({ namespace: 'ci', script, labels: ['secrets'], secrets: ['TOKEN', 'KEY'] })
      .expect(201);
    const id = res.body.runs[0] as string;
    const run = await waitForFinal(pulse, id, 60000);
    const log = await readLog(pulse, id);
    expect(run.state).toBe('finished');
    expect(run.logs).toBe(Buffer.byteLength(log));
    expect(log).toContain('plain: [MASKED]\n');
    expect(log).toContain('split: [MASKED]\n');
    expect(log).toContain('b64: [MASKED]\n');
    expect(log).toContain('b64n: [MASKED]\n');
    expect(log).toContain('url: [MASKED]\n');
    expect(log).toContain('json: {"token":"[MASKED]"}\n');
    expect(log).toContain('key:\n[MASKED]\n');
    expect(log).toContain('key64:\n[MASKED]\n');
    expect(log).toContain('done\n');
    const forms = [
      VALUE,
      Buffer.from(VALUE).toString('base64'),
      Buffer.from(`${VALUE}\n`).toString('base64'),
      encodeURIComponent(VALUE),
      JSON.stringify(VALUE).slice(1, -1),
      ...KEY.split('\n').filter((l) => l.length >= 8),
      Buffer.from(`${KEY}\n`).toString('base64').slice(0, 76),
    ];
    for (const form of forms) expect(log).not.toContain(form);

    // At rest: not in any file of DATA_DIR (the embedded database, its WAL, the key file) ...
    const needles = [Buffer.from(VALUE), Buffer.from(KEY.split('\n')[1])];
    for (const file of filesUnder(pulse.dataDir)) {
      const bytes = readFileSync(file);
      for (const needle of needles) {
        if (bytes.includes(needle)) throw new Error(`${file} holds a secret in clear`);
      }
    }
    // ... and not in a dump of the PostgreSQL database.
    if (pulse.databaseUrl) {
      const dump = execFileSync('pg_dump', ['--no-owner', pulse.databaseUrl], { maxBuffer: 256 * 1024 * 1024 });
      expect(dump.length).toBeGreaterThan(1000);
      for (const needle of needles) expect(dump.includes(needle)).toBe(false);
    }
  });
});

describe('secrets: the key ring at start-up, and a rewrap', () => {
  let pulse: TestPulse;
  const k1 = `k1:${key()}`;
  const k2 = `k2:${key()}`;
  const REWRAP = resolve(__dirname, '../dist/src/secret/rewrap.js');

  beforeAll(async () => {
    pulse = await startPulse({ ...FAST, SECRETS_KEYS: k1 });
  });

  afterAll(async () => {
    await pulse?.close();
  });

  /** Starts the orchestrator with `env` and expects it to exit (non-zero) before listening. */
  const startFails = async (env: Record<string, string>): Promise<string> => {
    const message = await spawnPulse({ ...pulse.env, ...env }).then(
      async (proc) => {
        await proc.stop();
        return 'started';
      },
      (err: Error) => err.message,
    );
    expect(message).toMatch(/^pulse exited with [12] before listening/);
    return message;
  };

  it('refuses to start with a missing or wrong key, with a clear message', async () => {
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'keys', repositories: ['r'] }).expect(201);
    await pulse.http.put('/api/namespaces/keys/secrets/TOKEN').set(pulse.admin).send({ value: VALUE }).expect(201);
    await pulse.proc.stop();

    const missing = await startFails({ SECRETS_KEYS: k2 });
    expect(missing).toMatch(/secrets are stored encrypted with key "k1", which the key ring \("k2"\) does not have/);
    const wrong = await startFails({ SECRETS_KEYS: `k1:${key()}` });
    expect(wrong).toMatch(/key "k1" of the key ring does not decrypt the secrets stored with that id: it is the wrong key/);
    const unset = await startFails({ SECRETS_KEYS: '' });
    expect(unset).toMatch(/which the key ring \("default"\) does not have/);
    const malformed = await startFails({ SECRETS_KEYS: 'k1:not-a-key' });
    expect(malformed).toMatch(/configuration error: SECRETS_KEYS key "k1" must be 32 bytes in base64/);
    for (const message of [missing, wrong, unset, malformed]) expect(message).not.toContain(VALUE);
  });

  it('rewraps every value with the first key; the new key alone then decrypts them all', async () => {
    const env = { ...pulse.env, SECRETS_KEYS: `${k2},${k1}` };
    const rewrap = spawnSync(process.execPath, [REWRAP], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8' });
    expect(rewrap.stderr).toBe('');
    expect(rewrap.stdout).toMatch(/re-encrypted 1 secret\(s\) with key "k2"/);
    expect(rewrap.status).toBe(0);
    expect(rewrap.stdout + rewrap.stderr).not.toContain(VALUE);

    await pulse.restart({ SECRETS_KEYS: k2 });
    const runner = await TestRunner.register(pulse, { name: 'after-rewrap' });
    await submit(pulse, { namespace: 'keys', secrets: ['TOKEN'] }, ['r']);
    const beat = await eventually(async () => {
      const b = await runner.heartbeat();
      return b.run ? b : undefined;
    });
    expect(beat.run?.env.TOKEN).toBe(VALUE);
    expect(testDatabaseUrl()).toBeTruthy();
  });

  it('refuses a key that differs from the one the database knows by its id, even once no secret uses it', async () => {
    await pulse.proc.stop();
    const k9 = `k9:${key()}`;
    await pulse.restart({ SECRETS_KEYS: `${k9},${k2}` });
    await pulse.http.put('/api/namespaces/keys/secrets/BRIEF').set(pulse.admin).send({ value: 'brief-value-123' }).expect(201);
    await pulse.http.delete('/api/namespaces/keys/secrets/BRIEF').set(pulse.admin).expect(204);
    await pulse.proc.stop();
    const other = await startFails({ SECRETS_KEYS: `${k2},k9:${key()}` });
    expect(other).toMatch(/key "k9" of the key ring is not the key this database knows by that id: it is the wrong key/);
    expect(other).not.toContain('brief-value-123');
  });
});
