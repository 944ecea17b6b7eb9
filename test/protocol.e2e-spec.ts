import { startPulse, TestPulse, eventually } from './support/pulse';
import { submit, TestRunner } from './support/protocol';

/** A supertest parser that keeps the body as raw bytes. */
const bytes = (res: import('superagent').Response, done: (err: Error | null, body: Buffer) => void): void => {
  const parts: Buffer[] = [];
  res.on('data', (c: Buffer) => parts.push(c));
  res.on('end', () => done(null, Buffer.concat(parts)));
};

const FORBIDDEN = { statusCode: 403, message: 'Forbidden resource', error: 'Forbidden' };

describe('runner protocol (SPEC section 2)', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse({ HEARTBEAT_INTERVAL: '7', LONG_POLL_MAX: '5' });
  });
  afterAll(() => pulse.close());

  describe('registration', () => {
    it('returns a runner id and a pulse_rt_ token, shown once', async () => {
      const res = await pulse.http
        .post('/api/runner/registration')
        .send({ token: 'test-registration-token-0123456789', name: 'r', labels: ['linux'], resources: { cpu: 4, memory: 4096, disk: 10000 } })
        .expect(201);
      expect(res.body.runner_id).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.body.runner_token).toMatch(/^pulse_rt_[A-Za-z0-9_-]{40,}$/);
      const detail = await pulse.http.get(`/api/runners/${res.body.runner_id}`).set(pulse.admin).expect(200);
      expect(JSON.stringify(detail.body)).not.toContain(res.body.runner_token);
      expect(detail.body.resources).toEqual({ cpu: 4, memory: 4096, disk: 10000 });
    });

    it('refuses a wrong registration token with 401', async () => {
      const res = await pulse.http.post('/api/runner/registration').send({ token: 'nope' }).expect(401);
      expect(res.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
    });

    it('refuses unknown fields with 400 naming them, but accepts free-form framework', async () => {
      const res = await pulse.http
        .post('/api/runner/registration')
        .send({ token: 'test-registration-token-0123456789', colour: 'red' })
        .expect(400);
      expect(JSON.stringify(res.body.message)).toContain('colour');
      await pulse.http
        .post('/api/runner/registration')
        .send({ token: 'test-registration-token-0123456789', framework: { name: 'shell', anything: { deep: [1] } } })
        .expect(201);
    });
  });

  describe('authentication', () => {
    it('401 without a token or with an unknown one, and an admin token is not a runner token', async () => {
      const runner = await TestRunner.register(pulse);
      await pulse.http.post('/api/runner/heartbeat').send({ id: runner.id, status: 'ready' }).expect(401);
      await pulse.http
        .post('/api/runner/heartbeat')
        .set({ Authorization: 'Bearer pulse_rt_notarealtoken' })
        .send({ id: runner.id, status: 'ready' })
        .expect(401);
      await pulse.http.post('/api/runner/heartbeat').set(pulse.admin).send({ id: runner.id, status: 'ready' }).expect(401);
      await pulse.http.get('/api/runners').set(runner.auth).expect(401);
    });

    it('403 with the exact body for another runner id', async () => {
      const a = await TestRunner.register(pulse);
      const b = await TestRunner.register(pulse);
      const res = await pulse.http.post('/api/runner/heartbeat').set(a.auth).send({ id: b.id, status: 'ready' }).expect(403);
      expect(res.body).toEqual(FORBIDDEN);
    });
  });

  describe('heartbeat and dispatch', () => {
    it('hands a run only to a ready runner, with the server-set interval', async () => {
      const runner = await TestRunner.register(pulse, { labels: ['hb-1'] });
      const { runs } = await submit(pulse, { namespace: 'hb-1', labels: ['hb-1'], env: { GREETING: 'hi' }, payload: undefined });
      const busy = await runner.heartbeat({ status: 'busy', runs: [] });
      expect(busy).toEqual({ status: 'ok', interval: 7 });
      const ready = await runner.heartbeat();
      expect(ready.interval).toBe(7);
      expect(ready.run).toMatchObject({ id: runs[0], attempt: 1, script: ['echo hi'], env: { GREETING: 'hi' }, timeout: 3600 });
      expect(ready.run?.messageId).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('offers an unacknowledged run again with the same messageId, and a new one never', async () => {
      const runner = await TestRunner.register(pulse, { labels: ['hb-2'] });
      await submit(pulse, { namespace: 'hb-2', labels: ['hb-2'], repos: ['https://example.com/a.git', 'https://example.com/b.git'] }, [
        'https://example.com/a.git',
        'https://example.com/b.git',
      ]);
      const first = await runner.heartbeat();
      const again = await runner.heartbeat();
      expect(again.run).toEqual(first.run);
      // Acknowledged by listing it: no re-offer, no second run.
      const listed = await runner.heartbeat({ status: 'ready', runs: [first.run!.id] });
      expect(listed.run).toBeUndefined();
      const detail = await pulse.http.get(`/api/runs/${first.run!.id}`).set(pulse.admin).expect(200);
      expect(detail.body.state).toBe('running');
      expect(JSON.stringify(detail.body)).not.toContain(first.run!.messageId);
    });

    it('treats an acknowledged run the runner stops listing as lost: requeued with attempt+1 and a new lease', async () => {
      const runner = await TestRunner.register(pulse, { labels: ['hb-3'] });
      const { runs } = await submit(pulse, { namespace: 'hb-3', labels: ['hb-3'], max_attempts: 3 });
      const offer = (await runner.heartbeat()).run!;
      await runner.update(offer, 0, '').expect(200);
      const next = await runner.heartbeat({ status: 'ready', runs: [] });
      expect(next.run?.id).toBe(runs[0]);
      expect(next.run?.attempt).toBe(2);
      expect(next.run?.messageId).not.toBe(offer.messageId);
      // The old lease is fenced off.
      await runner.update(offer, 0, 'late').expect(409);
    });

    it('long poll: a ready runner waiting is answered as soon as work arrives', async () => {
      const runner = await TestRunner.register(pulse, { labels: ['hb-4'] });
      await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'hb-4', repositories: ['https://example.com/a.git'] });
      const poll = runner.heartbeatRaw({ status: 'ready', runs: [], wait: 5 });
      const started = Date.now();
      const pending = poll.then((r) => ({ body: r.body, at: Date.now() }));
      await new Promise((r) => setTimeout(r, 300));
      const { runs } = await submit(pulse, { namespace: 'hb-4', labels: ['hb-4'] });
      const answer = await pending;
      expect(answer.body.heartbeat.run.id).toBe(runs[0]);
      // Woken by the submission, not by the 5 s time-out (generous bound for a busy machine).
      expect(answer.at - started).toBeLessThan(4500);
    });

    it('a long poll with no work ends after `wait` with no run', async () => {
      const runner = await TestRunner.register(pulse, { labels: ['nothing-matches-this'] });
      const res = await runner.heartbeatRaw({ status: 'ready', runs: [], wait: 1 }).expect(200);
      expect(res.body).toEqual({ heartbeat: { status: 'ok', interval: 7 } });
    });

    it('a disabled runner keeps heartbeating but gets no run', async () => {
      const runner = await TestRunner.register(pulse, { labels: ['hb-5'] });
      await submit(pulse, { namespace: 'hb-5', labels: ['hb-5'] });
      await pulse.http.post(`/api/runners/${runner.id}/disable`).set(pulse.admin).expect(200);
      expect((await runner.heartbeat()).run).toBeUndefined();
      await pulse.http.post(`/api/runners/${runner.id}/enable`).set(pulse.admin).expect(200);
      expect((await runner.heartbeat()).run).toBeDefined();
    });
  });

  describe('many runners at once (their liveness writes and lookups are grouped)', () => {
    it('each runner keeps its own facts, and a deregistered one among them gets 403', async () => {
      const runners = await Promise.all(Array.from({ length: 12 }, () => TestRunner.register(pulse, { labels: ['crowd'] })));
      const gone = runners[5];
      await gone.deregister().expect(200);
      const answers = await Promise.all(
        runners.map((r, i) =>
          r.heartbeatRaw({ status: 'ready', runs: [], usage: { cpu: i, memory: 100 + i }, framework: { name: `fw-${i}`, version: '1' } }),
        ),
      );
      answers.forEach((res, i) => expect([i, res.status]).toEqual([i, i === 5 ? 403 : 200]));
      for (const [i, r] of runners.entries()) {
        if (i === 5) continue;
        const detail = (await pulse.http.get(`/api/runners/${r.id}`).set(pulse.admin).expect(200)).body;
        expect(detail.usage).toEqual({ cpu: i, memory: 100 + i });
        expect(detail.framework).toEqual({ name: `fw-${i}`, version: '1' });
        expect(detail.last_heartbeat_at).not.toBeNull();
      }
      const goneDetail = (await pulse.http.get(`/api/runners/${gone.id}`).set(pulse.admin).expect(200)).body;
      expect(goneDetail.usage).toBeNull();
    });
  });

  describe('update (log streaming)', () => {
    async function running(label: string) {
      const runner = await TestRunner.register(pulse, { labels: [label] });
      const { runs } = await submit(pulse, { namespace: label, labels: [label] });
      const run = (await runner.heartbeat()).run!;
      expect(run.id).toBe(runs[0]);
      return { runner, run };
    }

    it('appends at byte offsets, stores a re-sent chunk once, answers 416 with expectedOffset on a gap', async () => {
      const { runner, run } = await running('up-1');
      expect((await runner.update(run, 0, 'héllo\n').expect(200)).body).toEqual({ offset: 7, cancel: false });
      expect((await runner.update(run, 0, 'héllo\n').expect(200)).body).toEqual({ offset: 7, cancel: false });
      expect((await runner.update(run, 3, 'llo\nworld\n').expect(200)).body.offset).toBe(13);
      const gap = await runner.update(run, 20, 'x').expect(416);
      expect(gap.body).toMatchObject({ statusCode: 416, expectedOffset: 13 });
      const log = await pulse.http.get(`/api/runs/${run.id}/logs`).set(pulse.admin).expect(200);
      expect(log.headers['content-type']).toMatch(/^text\/plain/);
      expect(log.text).toBe('héllo\nworld\n');
      const tail = await pulse.http.get(`/api/runs/${run.id}/logs?offset=7`).set(pulse.admin).expect(200);
      expect(tail.text).toBe('world\n');
      const listed = await pulse.http.get(`/api/runs?batch=${run.project}`).set(pulse.admin).expect(200);
      expect(listed.body.items[0].logs).toBe(13);
    });

    it('large chunks (stored deflated) read back byte for byte, from any offset, with re-sends and follow', async () => {
      const { runner, run } = await running('up-big');
      const text = (from: number, n: number) =>
        Array.from({ length: n }, (_, i) => `${from + i} build step é${from + i} compiled src/m${(from + i) * 7}.ts in ${(from + i) % 97} ms\n`).join('');
      const a = text(0, 300);
      const b = text(300, 300);
      const c = text(600, 300);
      const len = (t: string) => Buffer.byteLength(t);
      expect((await runner.update(run, 0, a).expect(200)).body.offset).toBe(len(a));
      expect((await runner.update(run, len(a), b).expect(200)).body.offset).toBe(len(a + b));
      // A re-send of b's last line with c: only c's bytes are new (the locked path cuts the chunk).
      const last = text(599, 1);
      const res = await pulse.http
        .post(`/api/runner/runs/${run.id}/update`)
        .set(runner.auth)
        .send({ messageId: run.messageId, offset: len(a + b) - len(last), logs: last + c });
      expect(res.status).toBe(200);
      expect(res.body.offset).toBe(len(a + b + c));
      const whole = Buffer.from(a + b + c);
      const log = await pulse.http.get(`/api/runs/${run.id}/logs`).set(pulse.admin).buffer(true).parse(bytes).expect(200);
      expect((log.body as Buffer).equals(whole)).toBe(true);
      for (const from of [1, len(a) - 3, len(a), len(a) + 4321, len(a + b + c) - 1]) {
        const tail = await pulse.http.get(`/api/runs/${run.id}/logs?offset=${from}`).set(pulse.admin).buffer(true).parse(bytes).expect(200);
        expect((tail.body as Buffer).equals(whole.subarray(from))).toBe(true);
      }
      await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: len(a + b + c) }).expect(200);
      const followed = await pulse.http.get(`/api/runs/${run.id}/logs?follow=1`).set(pulse.admin).buffer(true).parse(bytes).expect(200);
      expect((followed.body as Buffer).equals(whole)).toBe(true);
    });

    it('409 for a stale messageId and for a final run', async () => {
      const { runner, run } = await running('up-2');
      await runner.update(run, 0, 'x', '00000000-0000-4000-8000-000000000000').expect(409);
      await runner.complete(run, { status: 'finished', exitCode: 0 }).expect(200);
      const res = await runner.update(run, 1, 'more').expect(409);
      expect(res.body).toMatchObject({ statusCode: 409, error: 'Conflict' });
    });

    it('past LOG_MAX_BYTES keeps the head and the tail with one marker, while offsets keep counting', async () => {
      const small = await startPulse({ LOG_MAX_BYTES: '1024' });
      try {
        const runner = await TestRunner.register(small, { labels: ['cap'] });
        await submit(small, { namespace: 'cap', labels: ['cap'] });
        const run = (await runner.heartbeat()).run!;
        const [a, b, c] = ['a', 'b', 'c'].map((ch) => ch.repeat(700));
        expect((await runner.update(run, 0, a).expect(200)).body.offset).toBe(700);
        expect((await runner.update(run, 700, b).expect(200)).body.offset).toBe(1400);
        expect((await runner.update(run, 1400, c).expect(200)).body.offset).toBe(2100);
        await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: 2100 }).expect(200);
        const log = await small.http.get(`/api/runs/${run.id}/logs`).set(small.admin).expect(200);
        expect(log.text.match(/bytes of this log were dropped here/g)).toHaveLength(1);
        expect(log.text).toMatch(/^a{512}\n\[pulse\] \d+ bytes of this log were dropped here[^\n]*\nb*c{512,700}$/);
        expect((await small.http.get(`/api/runs/${run.id}`).set(small.admin)).body.logs).toBe(2100);
      } finally {
        await small.close();
      }
    });
  });

  describe('complete', () => {
    it('stores the result once; the same result again is 200 and changes nothing', async () => {
      const runner = await TestRunner.register(pulse, { labels: ['co-1'] });
      await submit(pulse, { namespace: 'co-1', labels: ['co-1'] });
      const run = (await runner.heartbeat()).run!;
      await runner.update(run, 0, 'out\n').expect(200);
      const result = { status: 'failed', exitCode: 3, outcome: 'Survived', data: { coverage: 0.5 }, logBytes: 4 };
      expect((await runner.complete(run, result).expect(200)).body).toEqual({ status: 'OK' });
      const before = (await pulse.http.get(`/api/runs/${run.id}`).set(pulse.admin)).body;
      await runner.complete(run, result).expect(200);
      const after = (await pulse.http.get(`/api/runs/${run.id}`).set(pulse.admin)).body;
      expect(after).toEqual(before);
      expect(after).toMatchObject({ state: 'failed', exit_code: 3, result: { outcome: 'Survived', data: { coverage: 0.5 } } });
      await runner.complete(run, { status: 'finished', exitCode: 0 }).expect(409);
    });

    it('416 while the server holds fewer log bytes than logBytes; the run stays running', async () => {
      const runner = await TestRunner.register(pulse, { labels: ['co-2'] });
      await submit(pulse, { namespace: 'co-2', labels: ['co-2'] });
      const run = (await runner.heartbeat()).run!;
      await runner.update(run, 0, 'abc').expect(200);
      const res = await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: 6 }).expect(416);
      expect(res.body.expectedOffset).toBe(3);
      expect((await pulse.http.get(`/api/runs/${run.id}`).set(pulse.admin)).body.state).toBe('running');
      await runner.update(run, 3, 'def').expect(200);
      await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: 6 }).expect(200);
    });

    it('409 for a stale messageId or another batch; 403 for another runner id in the path', async () => {
      const runner = await TestRunner.register(pulse, { labels: ['co-3'] });
      const other = await TestRunner.register(pulse);
      await submit(pulse, { namespace: 'co-3', labels: ['co-3'] });
      const run = (await runner.heartbeat()).run!;
      await runner.complete(run, { status: 'finished' }, '00000000-0000-4000-8000-000000000000').expect(409);
      await pulse.http
        .post(`/api/runner/complete/${runner.id}/00000000-0000-4000-8000-000000000000`)
        .set(runner.auth)
        .send({ messageId: run.messageId, result: { id: run.id, status: 'finished' } })
        .expect(409);
      const foreign = await pulse.http
        .post(`/api/runner/complete/${runner.id}/${run.project}`)
        .set(other.auth)
        .send({ messageId: run.messageId, result: { id: run.id, status: 'finished' } })
        .expect(403);
      expect(foreign.body).toEqual(FORBIDDEN);
      expect((await pulse.http.get(`/api/runs/${run.id}`).set(pulse.admin)).body.state).toBe('running');
    });
  });

  describe('validation of the hot routes (fast path and full rules agree)', () => {
    it('heartbeat, update and complete refuse bad bodies with 400 naming the field, and accept the unusual valid ones', async () => {
      const label = 'val-1';
      const runner = await TestRunner.register(pulse, { labels: [label] });
      const bad: Array<[Record<string, unknown>, string]> = [
        [{ status: 'ready' }, 'id'],
        [{ id: runner.id }, 'status'],
        [{ id: runner.id, status: 'idle' }, 'status'],
        [{ id: runner.id, status: 'ready', wait: -1 }, 'wait'],
        [{ id: runner.id, status: 'ready', wait: 3601 }, 'wait'],
        [{ id: runner.id, status: 'ready', wait: '5' }, 'wait'],
        [{ id: runner.id, status: 'ready', runs: ['not-a-uuid'] }, 'runs'],
        [{ id: runner.id, status: 'ready', runs: Array.from({ length: 101 }, () => runner.id) }, 'runs'],
        [{ id: runner.id, status: 'ready', runs: 'x' }, 'runs'],
        [{ id: runner.id, status: 'ready', colour: 'red' }, 'colour'],
        [{ id: runner.id, status: 'ready', usage: { cpu: -1 } }, 'usage.cpu'],
      ];
      const post = (path: string, body: unknown) => pulse.http.post(path).set(runner.auth).send(body as object);
      for (const [body, field] of bad) {
        const res = await post('/api/runner/heartbeat', body);
        expect([res.status, JSON.stringify(body)]).toEqual([400, JSON.stringify(body)]);
        expect(JSON.stringify(res.body.message)).toContain(field);
      }
      const unusual = await post('/api/runner/heartbeat', {
        id: runner.id,
        status: 'busy',
        wait: 0,
        usage: { cpu: 1.5 },
        framework: { name: 'shell', version: '1', constructorName: 'x' },
      });
      expect(unusual.status).toBe(200);

      await submit(pulse, { namespace: label, labels: [label] });
      const run = (await runner.heartbeat()).run!;
      const updatePath = `/api/runner/runs/${run.id}/update`;
      const badUpdates: Array<[unknown, string]> = [
        [{ messageId: run.messageId, offset: -1, logs: '' }, 'offset'],
        [{ messageId: run.messageId, offset: 1.5, logs: '' }, 'offset'],
        [{ messageId: run.messageId, offset: 0, logs: 5 }, 'logs'],
        [{ messageId: run.messageId, offset: 0 }, 'logs'],
        [{ messageId: 'x', offset: 0, logs: '' }, 'messageId'],
        [{ messageId: run.messageId, offset: 0, logs: '', extra: 1 }, 'extra'],
        [[1, 2], 'messageId'],
      ];
      for (const [body, field] of badUpdates) {
        const res = await post(updatePath, body);
        expect([res.status, JSON.stringify(body)]).toEqual([400, JSON.stringify(body)]);
        expect(JSON.stringify(res.body.message)).toContain(field);
      }
      expect((await post(updatePath, { messageId: run.messageId, offset: 0, logs: 'ok\n' })).status).toBe(200);

      const completePath = `/api/runner/complete/${runner.id}/${run.project}`;
      const result = { id: run.id, status: 'finished', exitCode: 0 };
      const badCompletes: Array<[unknown, string]> = [
        [{ messageId: run.messageId, result: { ...result, status: 'done' } }, 'status'],
        [{ messageId: run.messageId, result: { ...result, exitCode: 0.5 } }, 'exitCode'],
        [{ messageId: run.messageId, result: { ...result, exitCode: 2 ** 31 } }, 'exitCode'],
        [{ messageId: run.messageId, result: { ...result, logBytes: -3 } }, 'logBytes'],
        [{ messageId: run.messageId, result: { ...result, colour: 'red' } }, 'colour'],
        [{ messageId: run.messageId, result: { status: 'finished' } }, 'id'],
        [{ messageId: run.messageId, result: 'finished' }, 'result'],
        [{ messageId: run.messageId }, 'result'],
        [{ messageId: run.messageId, result, extra: true }, 'extra'],
      ];
      for (const [body, field] of badCompletes) {
        const res = await post(completePath, body);
        expect([res.status, JSON.stringify(body)]).toEqual([400, JSON.stringify(body)]);
        expect(JSON.stringify(res.body.message)).toContain(field);
      }
      const done = await post(completePath, {
        messageId: run.messageId,
        result: { ...result, outcome: 'Killed', data: { mutant: 7 }, logBytes: 3 },
      });
      expect(done.status).toBe(200);
      const stored = await pulse.http.get(`/api/runs/${run.id}`).set(pulse.admin).expect(200);
      expect(stored.body).toMatchObject({ state: 'finished' });
    });
  });

  describe('deregistration', () => {
    it('blacklists the runner (exact 403 body) and puts its run back in the queue', async () => {
      const runner = await TestRunner.register(pulse, { labels: ['de-1'] });
      const { runs } = await submit(pulse, { namespace: 'de-1', labels: ['de-1'] });
      const run = (await runner.heartbeat()).run!;
      await runner.update(run, 0, '').expect(200);
      const res = await runner.deregister().expect(200);
      expect(res.text).toBe('');
      const after = await runner.heartbeatRaw({ status: 'ready' }).expect(403);
      expect(after.body).toEqual(FORBIDDEN);
      await runner.update(run, 0, 'x').expect(403);
      await runner.deregister().expect(403);
      const detail = (await pulse.http.get(`/api/runs/${runs[0]}`).set(pulse.admin)).body;
      expect(detail).toMatchObject({ state: 'waiting', attempt: 1 });
      const successor = await TestRunner.register(pulse, { labels: ['de-1'] });
      const again = (await successor.heartbeat()).run!;
      expect(again).toMatchObject({ id: runs[0], attempt: 2 });
    });

    it('a deregistration survives a restart of the orchestrator', async () => {
      const runner = await TestRunner.register(pulse);
      await runner.deregister().expect(200);
      await pulse.restart();
      await runner.heartbeatRaw({ status: 'ready' }).expect(403);
      await eventually(async () => (await pulse.http.get('/api/health')).status === 200);
    });
  });
});
