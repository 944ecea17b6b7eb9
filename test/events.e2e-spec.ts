import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { Assignment, submit, TestRunner } from './support/protocol';
import { ADMIN_TOKEN, eventually, startPulse, TestPulse } from './support/pulse';
import { SseClient } from './support/sse';

/**
 * The live feed (SPEC section 8): GET /api/events and the SSE log follow, over real HTTP against
 * the real orchestrator process, on both databases.
 */
const AUTH = { Authorization: `Bearer ${ADMIN_TOKEN}` };

type Data = Record<string, unknown>;

describe('GET /api/events', () => {
  let pulse: TestPulse;
  const open: SseClient[] = [];
  const feed = async (query = '', headers: Record<string, string> = {}): Promise<SseClient> => {
    const c = await SseClient.open(`${pulse.url}/api/events${query}`, { ...AUTH, ...headers });
    open.push(c);
    return c;
  };

  beforeAll(async () => {
    pulse = await startPulse({ EVENTS_KEEPALIVE: '0.4', RUNNER_DEAD_AFTER: '6', HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '1' });
  });
  afterEach(() => {
    for (const c of open.splice(0)) c.close();
  });
  afterAll(() => pulse.close());

  it('answers 401 and 400 as JSON before any stream starts', async () => {
    const none = await SseClient.open(`${pulse.url}/api/events`);
    expect(none.status).toBe(401);
    expect(none.headers['content-type']).toMatch(/application\/json/);
    expect(JSON.parse(none.body)).toMatchObject({ statusCode: 401 });
    for (const [query, field] of [
      ['?after=abc', 'after'],
      ['?after=-1', 'after'],
      ['?kinds=run,bogus', 'kinds'],
      ['?batch=nope', 'batch'],
      ['?namespace=no%20spaces', 'namespace'],
      ['?what=1', 'what'],
    ]) {
      const bad = await feed(query);
      expect(bad.status).toBe(400);
      expect(bad.headers['content-type']).toMatch(/application\/json/);
      expect(JSON.stringify(JSON.parse(bad.body).message)).toContain(field);
    }
    const badId = await feed('', { 'last-event-id': 'x1' });
    expect(badId.status).toBe(400);
    expect(JSON.parse(badId.body).message).toMatch(/Last-Event-ID/);
  });

  it('streams with the SSE headers and sends a comment line while quiet', async () => {
    const c = await feed();
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(c.headers['cache-control']).toMatch(/no-cache/);
    expect(c.headers['x-accel-buffering']).toBe('no');
    expect(c.headers['content-encoding']).toBeUndefined();
    await c.waitFor((x) => x.comments >= 2, 10000, 'two keep-alive comments');
  });

  it('sends each kind with its payload, in id order, live and replayed', async () => {
    const live = await feed();
    const ns = `ev-${randomUUID().slice(0, 8)}`;
    await pulse.http.put('/api/namespaces').set(AUTH).send({ namespace_name: ns, repositories: ['r1', 'r2'] }).expect(201);
    const runner = await TestRunner.register(pulse, { name: 'feed-runner', labels: [ns] });
    const { batch_id, runs } = await submit(pulse, { namespace: ns, labels: [ns] }, ['r1', 'r2']);

    const first = await runner.heartbeat();
    const run = first.run as Assignment;
    await runner.update(run, 0, 'hello\n').expect(200);
    await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: 6 }).expect(200);
    // The other run is canceled while waiting: the batch is then done.
    const other = runs.find((id) => id !== run.id) as string;
    await pulse.http.delete(`/api/runs/${other}`).set(AUTH).expect(200);

    await live.waitFor((c) => c.events('batch').some((e) => e.data.done === true), 20000, 'batch done');
    const events = live.events();
    const ids = events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);

    const mine = events.filter((e) => e.data.namespace === ns || e.data.namespace_name === ns || e.data.runner_id === runner.id);
    expect(mine[0]).toMatchObject({ event: 'namespace', data: { namespace_name: ns, repositories: ['r1', 'r2'] } });
    const reg = mine.find((e) => e.event === 'runner')!;
    expect(reg.data).toMatchObject({
      runner_id: runner.id,
      name: 'feed-runner',
      state: 'waiting',
      enabled: true,
      current_run: null,
      labels: [ns],
      last_heartbeat_at: null,
      deregistered: false,
    });
    const batches = mine.filter((e) => e.event === 'batch');
    expect(batches).toHaveLength(2);
    expect(batches[0].data).toEqual({
      batch_id,
      namespace: ns,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
      runs: 2,
      counts: { waiting: 2, running: 0, finished: 0, failed: 0, canceled: 0, timeout: 0 },
      done: false,
    });
    expect(batches[1].data).toMatchObject({ batch_id, runs: 2, counts: { waiting: 0, running: 0, finished: 1, canceled: 1 }, done: true });

    // A submission sends no run events; each run one per state it entered.
    const runEvents = mine.filter((e) => e.event === 'run');
    expect(runEvents.map((e) => [e.data.id, e.data.state])).toEqual([
      [run.id, 'running'],
      [run.id, 'finished'],
      [other, 'canceled'],
    ]);
    const listed = (await pulse.http.get(`/api/runs?batch=${batch_id}`).set(AUTH).expect(200)).body.items as Data[];
    const finished = listed.find((r) => r.id === run.id)!;
    expect(runEvents[1].data).toEqual({ ...finished, namespace: ns, pending_reason: null });
    expect(runEvents[0].data).toMatchObject({ host: runner.id, attempt: 1, started_at: finished.started_at, finished_at: null });

    // The runner went running with the run, then back to waiting.
    const runnerStates = mine.filter((e) => e.event === 'runner').map((e) => [e.data.state, e.data.current_run]);
    expect(runnerStates).toEqual([
      ['waiting', null],
      ['running', run.id],
      ['waiting', null],
    ]);
    // The done event comes after the last run event of its batch.
    expect(batches[1].id).toBeGreaterThan(runEvents[2].id);

    // Replayed with ?after and with Last-Event-ID (which wins over ?after): the same events.
    const from = mine[0].id - 1;
    const replay = await feed(`?after=${from}`);
    const viaHeader = await feed(`?after=0&kinds=run,batch,runner,namespace`, { 'last-event-id': String(from) });
    const upTo = events[events.length - 1].id;
    for (const c of [replay, viaHeader]) {
      await c.waitFor((x) => x.events().some((e) => e.id === upTo), 15000, 'replay');
      expect(c.events().filter((e) => e.id <= upTo)).toEqual(events.filter((e) => e.id > from));
    }
  });

  it('filters by kind, namespace and batch; unknown names give an empty stream', async () => {
    const ns = `flt-${randomUUID().slice(0, 8)}`;
    const other = `flt-${randomUUID().slice(0, 8)}`;
    const cursor = (await pulse.http.get('/api/runs').set(AUTH).expect(200)).body.event_cursor as number;
    await pulse.http.put('/api/namespaces').set(AUTH).send({ namespace_name: other, repositories: ['x'] }).expect(201);
    const a = await submit(pulse, { namespace: ns }, ['r']);
    const b = await submit(pulse, { namespace: ns }, ['r']);
    await submit(pulse, { namespace: other }, ['x']);
    const runner = await TestRunner.register(pulse, { name: 'filter-runner', labels: ['never-matches'] });
    await pulse.http.delete(`/api/runs/${a.runs[0]}`).set(AUTH).expect(200);
    await pulse.http.delete(`/api/runs/${b.runs[0]}`).set(AUTH).expect(200);

    const all = await feed(`?after=${cursor}`);
    await all.waitFor((c) => c.events('batch').filter((e) => e.data.done).length >= 2, 15000, 'both batches done');
    const last = all.events()[all.events().length - 1].id;
    const upTo = (c: SseClient): Array<{ id: number; event: string; data: Data }> => c.events<Data>().filter((e) => e.id <= last);

    const byKind = await feed(`?after=${cursor}&kinds=batch,namespace`);
    const byNs = await feed(`?after=${cursor}&namespace=${ns}`);
    const byBatch = await feed(`?after=${cursor}&batch=${a.batch_id}&kinds=run,batch,runner`);
    const unknownNs = await feed(`?after=${cursor}&namespace=no-such-namespace&kinds=run,batch,namespace`);
    const unknownBatch = await feed(`?after=${cursor}&batch=${randomUUID()}&kinds=run,batch`);
    // A last event that every filtered stream receives: a runner event (no namespace, no batch).
    await pulse.http.post(`/api/runners/${runner.id}/disable`).set(AUTH).expect(200);
    for (const c of [byNs, byBatch]) await c.waitFor((x) => x.events('runner').some((e) => e.data.runner_id === runner.id && e.data.enabled === false), 15000, 'the disable event');
    await all.waitFor((x) => x.events('runner').some((e) => e.data.enabled === false && e.data.runner_id === runner.id), 15000, 'the disable event');

    const expected = upTo(all);
    await byKind.waitFor(
      (x) => upTo(x).length === expected.filter((e) => e.event === 'batch' || e.event === 'namespace').length,
      15000,
      'the batch and namespace events',
    );
    expect(upTo(byKind)).toEqual(expected.filter((e) => e.event === 'batch' || e.event === 'namespace'));
    expect(upTo(byNs)).toEqual(expected.filter((e) => (e.data.namespace ?? e.data.namespace_name ?? ns) === ns));
    expect(upTo(byNs).some((e) => e.event === 'runner')).toBe(true);
    expect(upTo(byBatch)).toEqual(expected.filter((e) => e.event !== 'namespace' && (e.data.batch_id ?? a.batch_id) === a.batch_id));
    expect(upTo(byBatch).filter((e) => e.event === 'batch')).toHaveLength(2);
    expect(unknownNs.frames).toEqual([]);
    expect(unknownBatch.frames).toEqual([]);
  });

  it('answers event_cursor with the run, batch and runner lists; after it, only later changes', async () => {
    const ns = `cur-${randomUUID().slice(0, 8)}`;
    const live = await feed(`?namespace=${ns}&kinds=batch`);
    await submit(pulse, { namespace: ns }, ['r']);
    // Once a reader has the submission's event, it has an id, and every list's cursor covers it.
    await live.waitFor((c) => c.events('batch').length === 1, 15000, 'the submission');
    const lists = await Promise.all(['/api/runs', '/api/batches', '/api/runners'].map((p) => pulse.http.get(p).set(AUTH).expect(200)));
    for (const res of lists) {
      expect(Number.isInteger(res.body.event_cursor)).toBe(true);
      expect(res.body.event_cursor).toBeGreaterThanOrEqual(live.events('batch')[0].id);
    }
    const cursor = Math.min(...lists.map((r) => r.body.event_cursor as number));

    const c = await feed(`?after=${cursor}&namespace=${ns}&kinds=batch,namespace`);
    await pulse.http.put('/api/namespaces').set(AUTH).send({ namespace_name: ns, repositories: ['r', 's'] }).expect(200);
    await c.waitFor((x) => x.events('namespace').length === 1, 15000, 'the replace');
    expect(c.events().map((e) => e.event)).not.toContain('batch');
    expect(c.events('namespace')[0].data).toEqual({ namespace_name: ns, repositories: ['r', 's'] });
  });

  it('sends runner deregistration, enable/disable, dead, and run requeue with pending_reason', async () => {
    const ns = `rn-${randomUUID().slice(0, 8)}`;
    const c = await feed(`?kinds=runner,run,namespace&namespace=${ns}`);
    const runner = await TestRunner.register(pulse, { labels: [ns] });
    await pulse.http.post(`/api/runners/${runner.id}/disable`).set(AUTH).expect(200);
    await pulse.http.post(`/api/runners/${runner.id}/enable`).set(AUTH).expect(200);
    const { runs } = await submit(pulse, { namespace: ns, labels: [ns], priority: 100 }, ['r']);
    const hb = await runner.heartbeat();
    expect(hb.run?.id).toBe(runs[0]);
    await runner.update(hb.run!, 0, '').expect(200);
    // Silent past RUNNER_DEAD_AFTER: dead, and its run goes back to the queue.
    const mineR = (): Array<{ data: Data }> => c.events('runner').filter((e) => e.data.runner_id === runner.id);
    await c.waitFor(() => mineR().some((e) => e.data.state === 'dead'), 20000, 'runner dead');
    await c.waitFor((x) => x.events('run').filter((e) => e.data.id === runs[0]).length >= 2, 20000, 'requeue');
    const requeued = c.events('run').filter((e) => e.data.id === runs[0])[1].data;
    expect(requeued).toMatchObject({ state: 'waiting', host: null, namespace: ns });
    expect(requeued.pending_reason).toBe('every runner that matches this run is dead (no recent heartbeat)');
    await runner.deregister().expect(200);
    await c.waitFor(() => mineR().some((e) => e.data.deregistered === true), 15000, 'deregistered');

    const states = mineR().map((e) => [e.data.state, e.data.enabled, e.data.deregistered, e.data.current_run]);
    expect(states[0]).toEqual(['waiting', true, false, null]);
    expect(states[1]).toEqual(['waiting', false, false, null]);
    expect(states[2]).toEqual(['waiting', true, false, null]);
    expect(states[3]).toEqual(['running', true, false, runs[0]]);
    expect(states.slice(4).map((s) => s[0])).toContain('dead');
    expect(states[states.length - 1]).toEqual(['dead', false, true, null]);
  });

  it('writes a statement\'s run events once per statement, in run order, in one pass however many runs it changes', async () => {
    if (pulse.kind !== 'postgres') return; // the embedded database is reachable only through the app
    const ns = `st-${randomUUID().slice(0, 8)}`;
    const repo = 'https://example.com/st.git';
    const small = await submit(pulse, { namespace: ns, labels: [ns], jobs: [{ repo }] }, [repo]);
    const big = await submit(pulse, { namespace: ns, labels: [ns], jobs: Array.from({ length: 2000 }, () => ({ repo })) }, [repo]);
    const db = new Client({ connectionString: pulse.databaseUrl });
    await db.connect();
    try {
      // Every plan of this session, the trigger's included, with its row counts and loops.
      await db.query(`LOAD 'auto_explain'`);
      await db.query(`SET auto_explain.log_min_duration = 0`);
      await db.query(`SET auto_explain.log_analyze = on`);
      await db.query(`SET auto_explain.log_nested_statements = on`);
      await db.query(`SET client_min_messages = log`);
      const plans: string[] = [];
      db.on('notice', (n) => plans.push(n.message ?? ''));
      // One-row statements first: PL/pgSQL keeps the plans it makes for the session.
      await db.query(`UPDATE run SET log_offset = log_offset WHERE batch_id = $1`, [small.batch_id]);
      await db.query(`UPDATE run SET state = 'canceled', finished_at = now() WHERE batch_id = $1`, [small.batch_id]);
      plans.length = 0;
      await db.query(`UPDATE run SET log_offset = log_offset WHERE batch_id = $1`, [big.batch_id]);
      await db.query(`UPDATE run SET state = 'canceled', finished_at = now() WHERE batch_id = $1`, [big.batch_id]);
      // A transition table read again for each row of the other (a nested loop) is quadratic.
      const scans = plans.flatMap((p) => p.split('\n')).filter((l) => l.includes('Named Tuplestore Scan'));
      expect(scans.length).toBeGreaterThan(0);
      for (const scan of scans) expect(scan).not.toMatch(/loops=([2-9]|\d\d)/);
      const order = await db.query<{ id: string }>(`SELECT id FROM run WHERE batch_id = $1 ORDER BY seq`, [big.batch_id]);
      const events = await db.query<{ id: string; state: string }>(
        `SELECT e.data->>'id' AS id, e.data->>'state' AS state FROM event e WHERE e.kind = 'run' AND e.batch_id = $1 ORDER BY e.id`,
        [big.batch_id],
      );
      expect(events.rows.map((e) => e.id)).toEqual(order.rows.map((r) => r.id));
      expect(new Set(events.rows.map((e) => e.state))).toEqual(new Set(['canceled']));
    } finally {
      await db.end();
    }
  });

  it('ends open streams when the server shuts down', async () => {
    const other = pulse.kind === 'postgres' ? await pulse.spawnAnother() : undefined;
    if (!other) return;
    const c = await SseClient.open(`${other.url}/api/events`, AUTH);
    expect(c.status).toBe(200);
    const started = Date.now();
    expect(await other.stop()).toBe(0);
    await c.waitFor((x) => x.ended, 10000, 'the end');
    expect(Date.now() - started).toBeLessThan(10000);
  });
});

describe('GET /api/events past EVENTS_RETENTION', () => {
  let pulse: TestPulse;
  beforeAll(async () => {
    pulse = await startPulse({ EVENTS_RETENTION: '1.5', SWEEP_INTERVAL: '0.1' });
  });
  afterAll(() => pulse.close());

  it('sends one resync frame, then live events', async () => {
    const first = await SseClient.open(`${pulse.url}/api/events?after=0`, AUTH);
    await pulse.http.put('/api/namespaces').set(AUTH).send({ namespace_name: 'old', repositories: ['r'] }).expect(201);
    await pulse.http.put('/api/namespaces').set(AUTH).send({ namespace_name: 'old', repositories: ['r', 's'] }).expect(200);
    // Both events numbered (ids 1 and 2: a reader from 0 got them)...
    await first.waitFor((x) => x.events('namespace').length === 2, 10000, 'the two events');
    expect(first.events('namespace').map((e) => e.id)).toEqual([1, 2]);
    first.close();
    // ... then pruned: a replay from 1 then starts with a resync.
    await eventually(async () => {
      const probe = await SseClient.open(`${pulse.url}/api/events?after=1`, AUTH);
      try {
        await probe.waitFor((c) => c.frames.length > 0, 3000, 'a frame');
        return probe.frames[0].event === 'resync';
      } catch {
        return false;
      } finally {
        probe.close();
      }
    }, 20000, 200);
    const c = await SseClient.open(`${pulse.url}/api/events?after=1`, AUTH);
    try {
      await c.waitFor((x) => x.frames.length >= 1, 10000, 'resync');
      expect(c.frames[0]).toMatchObject({ event: 'resync', data: '{}' });
      await pulse.http.put('/api/namespaces').set(AUTH).send({ namespace_name: 'new', repositories: ['r'] }).expect(201);
      await c.waitFor((x) => x.events('namespace').length === 1, 10000, 'a live event');
      expect(c.frames.filter((f) => f.event === 'resync')).toHaveLength(1);
      expect(c.events('namespace')[0].data).toEqual({ namespace_name: 'new', repositories: ['r'] });
      expect(c.events('namespace')[0].id).toBeGreaterThan(Number(c.frames[0].id));
      // An id this server never gave out: resync too.
      const future = await SseClient.open(`${pulse.url}/api/events?after=999999`, AUTH);
      await future.waitFor((x) => x.frames.length >= 1, 10000, 'resync');
      expect(future.frames[0].event).toBe('resync');
      future.close();
    } finally {
      c.close();
    }
  });
});

describe('GET /api/runs/{id}/logs?follow=1 as Server-Sent Events', () => {
  let pulse: TestPulse;
  beforeAll(async () => {
    pulse = await startPulse();
  });
  afterAll(() => pulse.close());

  it('streams log frames split at character boundaries, resumes at Last-Event-ID, ends with the state', async () => {
    const runner = await TestRunner.register(pulse, { labels: ['sse-log'] });
    const { runs } = await submit(pulse, { namespace: 'sse-log', labels: ['sse-log'] }, ['r']);
    const run = (await runner.heartbeat()).run as Assignment;
    expect(run.id).toBe(runs[0]);
    const url = `${pulse.url}/api/runs/${run.id}/logs?follow=1`;

    const bad = await SseClient.open(url, { ...AUTH, 'last-event-id': 'abc' });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).message).toMatch(/Last-Event-ID/);

    const c = await SseClient.open(url, AUTH);
    expect(c.status).toBe(200);
    expect(c.headers['content-type']).toMatch(/^text\/event-stream/);
    // Past 64 KiB per frame, with characters of 2, 3 and 4 bytes: frames must cut between characters.
    const line = 'é€😀 multibyte ✓ ünïcödé\n';
    const first = line.repeat(4000);
    const second = 'second part — ∑ 😀\n';
    let offset = 0;
    offset = (await runner.update(run, offset, first).expect(200)).body.offset as number;
    await c.waitFor((x) => x.events('log').length > 0 && Number(x.lastId) === offset, 15000, 'the first part');
    const resumeAt = c.lastId!;
    offset = (await runner.update(run, offset, second).expect(200)).body.offset as number;
    await runner.complete(run, { status: 'failed', exitCode: 3, logBytes: offset }).expect(200);
    await c.waitFor((x) => x.ended, 15000, 'the end of the stream');

    const logs = c.events<{ offset: number; text: string }>('log');
    expect(logs.length).toBeGreaterThan(1);
    let expectOffset = 0;
    for (const f of logs) {
      expect(f.data.offset).toBe(expectOffset);
      expect(f.data.text).not.toContain('\uFFFD');
      expectOffset += Buffer.byteLength(f.data.text);
      expect(f.id).toBe(expectOffset);
    }
    expect(logs.map((f) => f.data.text).join('')).toBe(first + second);
    expect(c.frames[c.frames.length - 1]).toEqual({ event: 'end', data: JSON.stringify({ state: 'failed' }) });

    // Resume: only what comes after that offset, then the end frame at once (the run is final).
    const again = await SseClient.open(url, { ...AUTH, 'last-event-id': resumeAt });
    await again.waitFor((x) => x.ended, 15000, 'the end');
    expect(again.events<{ offset: number; text: string }>('log').map((f) => f.data)).toEqual([{ offset: Number(resumeAt), text: second }]);
    expect(again.frames[again.frames.length - 1].event).toBe('end');

    // Without the Accept header: the plain chunked follow, unchanged.
    const plain = await pulse.http.get(`/api/runs/${run.id}/logs?follow=1`).set(AUTH).expect(200);
    expect(plain.headers['content-type']).toMatch(/^text\/plain/);
    expect(plain.text).toBe(first + second);
  });
});
