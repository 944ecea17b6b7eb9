import { createServer, Server, Socket } from 'node:net';
import { request as httpRequest } from 'node:http';
import { Client } from 'pg';
import { Assignment, submit, TestRunner } from './support/protocol';
import { databaseKind, eventually, startPulse, TestPulse } from './support/pulse';

/**
 * Failure recovery (SPEC sections 1, 2, 4 and 7; issue 3): silent runners, leases, deadlines,
 * cancel grace, lost responses, `kill -9` of the orchestrator, and (on PostgreSQL) the database
 * going away. Short intervals: a runner is dead after 2 s without a heartbeat.
 */

const FAST = {
  RUNNER_DEAD_AFTER: '2',
  HEARTBEAT_INTERVAL: '0.5',
  LONG_POLL_MAX: '1',
  CANCEL_GRACE: '1',
  SWEEP_INTERVAL: '0.2',
};

type Run = Record<string, unknown> & { state: string; attempt: number; reason: string | null };

async function getRun(pulse: TestPulse, id: string): Promise<Run> {
  return (await pulse.http.get(`/api/runs/${id}`).set(pulse.admin).expect(200)).body as Run;
}

async function runnerState(pulse: TestPulse, id: string): Promise<string> {
  return (await pulse.http.get(`/api/runners/${id}`).set(pulse.admin).expect(200)).body.state as string;
}

async function readLog(pulse: TestPulse, id: string): Promise<string> {
  return (await pulse.http.get(`/api/runs/${id}/logs`).set(pulse.admin).expect(200)).text;
}

/** A runner that is working on `runs`: busy heartbeats listing them, well inside RUNNER_DEAD_AFTER. */
function keepAlive(runner: TestRunner, runs: () => string[]): { cancels: Set<string>; stop(): Promise<void> } {
  const cancels = new Set<string>();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const res = await runner.heartbeatRaw({ status: 'busy', runs: runs() });
      if (res.status === 200) for (const id of (res.body.heartbeat.cancel as string[] | undefined) ?? []) cancels.add(id);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    cancels,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** A run handed to a new runner with these labels and acknowledged by an empty update. */
async function takeOne(pulse: TestPulse, label: string, body: Record<string, unknown> = {}) {
  const runner = await TestRunner.register(pulse, { labels: [label] });
  const { runs, batch_id } = await submit(pulse, { namespace: label, labels: [label], ...body });
  const run = (await runner.heartbeat()).run!;
  expect(run.id).toBe(runs[0]);
  return { runner, run, batch: batch_id };
}

describe('failure recovery (issue 3)', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse(FAST);
  });
  afterAll(() => pulse.close());

  describe('a silent runner', () => {
    it('is dead after RUNNER_DEAD_AFTER; its run is requeued, handed out under a new lease, and the old lease changes nothing', async () => {
      const { runner: lost, run: first } = await takeOne(pulse, 'silent-1', { max_attempts: 3 });
      expect(first.attempt).toBe(1);
      expect((await lost.update(first, 0, 'attempt one\n').expect(200)).body.offset).toBe(12);

      // Silence: no heartbeat at all from now on.
      await eventually(async () => (await runnerState(pulse, lost.id)) === 'dead', 15000);
      const requeued = await eventually(async () => {
        const run = await getRun(pulse, first.id);
        return run.state === 'waiting' && run;
      }, 15000);
      expect(requeued.reason).toMatch(/runner lost/);
      expect(requeued.host).toBeNull();

      const successor = await TestRunner.register(pulse, { labels: ['silent-1'] });
      const second = (await successor.heartbeat()).run!;
      expect(second).toMatchObject({ id: first.id, attempt: 2 });
      expect(second.messageId).not.toBe(first.messageId);
      expect((await getRun(pulse, first.id)).host).toBe(successor.id);

      // The new attempt's log starts at offset 0 for its runner, and nothing of it is lost.
      expect((await successor.update(second, 0, 'attempt two\n').expect(200)).body).toEqual({ offset: 12, cancel: false });
      expect(await readLog(pulse, first.id)).toMatch(/^attempt one\n[\s\S]*attempt two\n$/);

      // The lost runner's lease is fenced off.
      await lost.update(first, 12, 'late\n').expect(409);
      await lost.complete(first, { status: 'failed', exitCode: 7 }).expect(409);

      await successor.complete(second, { status: 'finished', exitCode: 0, logBytes: 12 }).expect(200);
      const done = await getRun(pulse, first.id);
      expect(done).toMatchObject({ state: 'finished', exit_code: 0, attempt: 2, host: successor.id });
      expect(done.result).toEqual({ status: 'finished', exitCode: 0, logBytes: 12 });

      // Still refused after the run is final, with any result, and nothing changes.
      await lost.complete(first, { status: 'failed', exitCode: 7 }).expect(409);
      await lost.complete(first, { status: 'finished', exitCode: 0, logBytes: 12 }).expect(409);
      await lost.update(first, 12, 'late\n').expect(409);
      expect(await getRun(pulse, first.id)).toEqual(done);

      // The dead runner heartbeats again: alive again, and told to drop the run it still lists.
      const back = await lost.heartbeat({ status: 'busy', runs: [first.id] });
      expect(back.cancel).toEqual([first.id]);
      expect(await runnerState(pulse, lost.id)).not.toBe('dead');
    });

    it('a dead runner that comes back while its old run waits again is told to cancel it, and gets it back only as a new attempt', async () => {
      const { runner, run: first } = await takeOne(pulse, 'silent-2', { max_attempts: 3 });
      await runner.update(first, 0, '').expect(200);
      await eventually(async () => (await getRun(pulse, first.id)).state === 'waiting', 15000);
      expect(await runnerState(pulse, runner.id)).toBe('dead');

      const back = await runner.heartbeat({ status: 'busy', runs: [first.id] });
      expect(back.cancel).toEqual([first.id]);
      expect(back.run).toBeUndefined();
      expect(await runnerState(pulse, runner.id)).not.toBe('dead');
      await runner.update(first, 0, 'x').expect(409);

      const again = (await runner.heartbeat({ status: 'ready', runs: [] })).run!;
      expect(again).toMatchObject({ id: first.id, attempt: 2 });
      expect(again.messageId).not.toBe(first.messageId);
      await runner.complete(first, { status: 'finished', exitCode: 0 }).expect(409);
      await runner.complete(again, { status: 'finished', exitCode: 0 }).expect(200);
    });

    it('fails the run with reason "runner lost" once its attempts are spent', async () => {
      const { runner, run } = await takeOne(pulse, 'silent-3', { max_attempts: 1 });
      await runner.update(run, 0, 'partial\n').expect(200);
      const failed = await eventually(async () => {
        const r = await getRun(pulse, run.id);
        return r.state === 'failed' && r;
      }, 15000);
      expect(failed.reason).toMatch(/runner lost/);
      expect(failed).toMatchObject({ attempt: 1, exit_code: null, result: null });
      expect(failed.finished_at).toEqual(expect.any(String));
      // A final run: the runner coming back can neither complete it nor add to its log.
      await runner.complete(run, { status: 'failed', exitCode: 1 }).expect(409);
      await runner.complete(run, { status: 'finished', exitCode: 0 }).expect(409);
      await runner.update(run, 8, 'more\n').expect(409);
      expect(await getRun(pulse, run.id)).toEqual(failed);
      expect(await readLog(pulse, run.id)).toBe('partial\n');
    });

    it('puts an offer it never acknowledged back in the queue without using an attempt', async () => {
      const { runner, run } = await takeOne(pulse, 'silent-4', { max_attempts: 1 });
      expect(run.attempt).toBe(1);
      await eventually(async () => (await runnerState(pulse, runner.id)) === 'dead', 15000);
      const back = await eventually(async () => {
        const r = await getRun(pulse, run.id);
        return r.state === 'waiting' && r;
      }, 15000);
      expect(back.attempt).toBe(0);
      expect(back.reason).toMatch(/runner lost/);

      const other = await TestRunner.register(pulse, { labels: ['silent-4'] });
      const again = (await other.heartbeat()).run!;
      // max_attempts 1, and the run still gets its one attempt.
      expect(again).toMatchObject({ id: run.id, attempt: 1 });
      expect(again.messageId).not.toBe(run.messageId);
      await runner.update(run, 0, 'x').expect(409);
      await other.complete(again, { status: 'finished', exitCode: 0 }).expect(200);
      expect(await getRun(pulse, run.id)).toMatchObject({ state: 'finished', attempt: 1 });
    });
  });

  describe('deadlines', () => {
    it('a run past its timeout becomes `timeout`, its runner is told to cancel it, and nothing it says later changes that', async () => {
      const { runner, run } = await takeOne(pulse, 'deadline-1', { timeout: 1 });
      await runner.update(run, 0, 'working\n').expect(200);
      const alive = keepAlive(runner, () => [run.id]);
      try {
        const timedOut = await eventually(async () => {
          const r = await getRun(pulse, run.id);
          return r.state === 'timeout' && r;
        }, 15000);
        expect(timedOut.reason).toMatch(/deadline/);
        await eventually(async () => alive.cancels.has(run.id));
      } finally {
        await alive.stop();
      }
      expect((await runner.heartbeat({ status: 'busy', runs: [run.id] })).cancel).toEqual([run.id]);
      const before = await getRun(pulse, run.id);
      await runner.update(run, 8, 'still going\n').expect(409);
      await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: 8 }).expect(409);
      await runner.complete(run, { status: 'failed', exitCode: 137 }).expect(409);
      expect(await getRun(pulse, run.id)).toEqual(before);
      expect(before).toMatchObject({ state: 'timeout', exit_code: null, result: null });
    });

    it('a cancel the runner does not confirm within CANCEL_GRACE becomes `canceled`', async () => {
      const { runner, run } = await takeOne(pulse, 'grace-1');
      await runner.update(run, 0, 'busy\n').expect(200);
      const asked = await pulse.http.delete(`/api/runs/${run.id}`).set(pulse.admin).expect(200);
      expect(asked.body.state).toBe('running');
      expect((await runner.update(run, 5, '').expect(200)).body.cancel).toBe(true);
      const alive = keepAlive(runner, () => [run.id]);
      try {
        await eventually(async () => alive.cancels.has(run.id));
        const canceled = await eventually(async () => {
          const r = await getRun(pulse, run.id);
          return r.state === 'canceled' && r;
        }, 15000);
        expect(canceled.reason).toMatch(/CANCEL_GRACE/);
      } finally {
        await alive.stop();
      }
      await runner.complete(run, { status: 'finished', exitCode: 0 }).expect(409);
      expect(await getRun(pulse, run.id)).toMatchObject({ state: 'canceled', result: null });
    });

    it('a cancel the runner confirms in time is `canceled` by its result', async () => {
      const { runner, run } = await takeOne(pulse, 'grace-2');
      await runner.update(run, 0, 'busy\n').expect(200);
      await pulse.http.delete(`/api/runs/${run.id}`).set(pulse.admin).expect(200);
      expect((await runner.heartbeat({ status: 'busy', runs: [run.id] })).cancel).toEqual([run.id]);
      await runner.complete(run, { status: 'canceled', exitCode: 143 }).expect(200);
      expect(await getRun(pulse, run.id)).toMatchObject({ state: 'canceled', reason: 'canceled by a user', exit_code: 143 });
    });
  });

  describe('lost heartbeat responses', () => {
    it('re-offers the same assignment, same messageId, until the runner acknowledges it', async () => {
      const { runner, run } = await takeOne(pulse, 'lost-1');
      // The first response never reached the runner; it asks again, more than once.
      expect((await runner.heartbeat()).run).toEqual(run);
      expect((await runner.heartbeat({ status: 'ready' })).run).toEqual(run);
      await runner.update(run, 0, 'ok\n').expect(200);
      expect((await runner.heartbeat({ status: 'ready', runs: [run.id] })).run).toBeUndefined();
      await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: 3 }).expect(200);
      expect(await getRun(pulse, run.id)).toMatchObject({ state: 'finished', attempt: 1 });
    });

    it('a long poll cut on its way back: the run it claimed is offered again with the same lease', async () => {
      const runner = await TestRunner.register(pulse, { labels: ['lost-2'] });
      await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'lost-2', repositories: ['https://example.com/a.git'] });
      // A raw long poll whose connection the "proxy" cuts before the server answers.
      const cut = new Promise<void>((done) => {
        const req = httpRequest(`${pulse.url}/api/runner/heartbeat`, {
          method: 'POST',
          headers: { ...runner.auth, 'content-type': 'application/json' },
        });
        req.on('error', () => done());
        req.on('close', () => done());
        req.end(JSON.stringify({ id: runner.id, status: 'ready', runs: [], wait: 1 }));
        setTimeout(() => req.destroy(), 150);
      });
      await cut;
      const { runs } = await submit(pulse, { namespace: 'lost-2', labels: ['lost-2'] });
      // The cut poll may still be claiming the run for this runner when it asks again: then that
      // answer is empty (the row is locked), and the next one offers the claimed run.
      const offer = await eventually(async () => (await runner.heartbeat()).run);
      expect(offer).toMatchObject({ id: runs[0], attempt: 1 });
      expect((await runner.heartbeat()).run).toEqual(offer);
      if (pulse.kind === 'postgres') {
        const db = new Client({ connectionString: pulse.databaseUrl });
        await db.connect();
        try {
          const { rows } = await db.query(`SELECT runner_id, message_id, attempt FROM run WHERE id = $1`, [offer.id]);
          expect(rows).toEqual([{ runner_id: runner.id, message_id: offer.messageId, attempt: 1 }]);
        } finally {
          await db.end();
        }
      }
      await runner.complete(offer, { status: 'finished', exitCode: 0 }).expect(200);
    });
  });
});

describe('kill -9 of the orchestrator in the middle of a batch', () => {
  // Dead after 4 s here, and the orchestrator stays down longer than that: the runners could not
  // heartbeat while nobody listened, and must not be declared dead for it.
  const DEAD_AFTER = 4;
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse({ ...FAST, RUNNER_DEAD_AFTER: String(DEAD_AFTER) });
  });
  afterAll(() => pulse.close());

  it('loses no run, log byte, token, lease or result, and the batch completes', async () => {
    const label = 'crash-1';
    const repos = ['a', 'b', 'c', 'd', 'e', 'f'].map((x) => `https://example.com/${x}.git`);
    const { batch_id: batch, runs } = await submit(pulse, { namespace: label, labels: [label], max_attempts: 1 }, repos);
    expect(runs).toHaveLength(6);

    const runners = await Promise.all([0, 1, 2].map(() => TestRunner.register(pulse, { labels: [label] })));
    const held = new Map<TestRunner, { run: Assignment; log: string }>();
    for (const runner of runners) {
      const run = (await runner.heartbeat()).run!;
      const log = `${run.repo}: line 1\nλ line 2 ${'x'.repeat(3000)}\n`;
      expect((await runner.update(run, 0, log).expect(200)).body.offset).toBe(Buffer.byteLength(log));
      held.set(runner, { run, log });
    }
    // One run completes before the crash; the other two are half-way through their logs, their
    // runners heartbeating in the background as real runners do.
    const [doneRunner, ...busy] = runners;
    const done = held.get(doneRunner)!;
    const doneBytes = Buffer.byteLength(done.log);
    await doneRunner.complete(done.run, { status: 'failed', exitCode: 2, outcome: 'Killed', logBytes: doneBytes }).expect(200);
    const beforeCrash = await getRun(pulse, done.run.id);

    await pulse.restart({}, { hard: true, downMs: DEAD_AFTER * 1000 + 500 });
    const alive = busy.map((runner) => keepAlive(runner, () => [held.get(runner)!.run.id]));
    try {
      // Every submitted run is there.
      const listed = await pulse.http.get(`/api/runs?batch=${batch}&limit=500`).set(pulse.admin).expect(200);
      expect(listed.body.items.map((r: { id: string }) => r.id).sort()).toEqual([...runs].sort());
      // The result survived, and so did every acknowledged log byte.
      expect(await getRun(pulse, done.run.id)).toEqual(beforeCrash);
      for (const { run, log } of held.values()) expect(await readLog(pulse, run.id)).toBe(log);

      // Tokens and leases survived: the busy runners carry on from the server's offset under the
      // same messageId, and complete.
      for (const [i, runner] of busy.entries()) {
        const { run, log } = held.get(runner)!;
        const offset = Buffer.byteLength(log);
        const rest = `after the crash ${runner.id}\n`;
        expect((await runner.update(run, offset, rest).expect(200)).body).toEqual({ offset: offset + Buffer.byteLength(rest), cancel: false });
        held.set(runner, { run, log: log + rest });
        await alive[i].stop();
        // Nobody was told to drop a run.
        expect([...alive[i].cancels]).toEqual([]);
        await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: Buffer.byteLength(log + rest) }).expect(200);
      }
    } finally {
      await Promise.all(alive.map((a) => a.stop()));
    }

    // The runs nobody had taken yet are dispatched after the restart.
    await eventually(async () => {
      for (const runner of runners) {
        const run = (await runner.heartbeat({ status: 'ready', runs: [] })).run;
        if (run) {
          await runner.update(run, 0, 'late\n').expect(200);
          await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: 5 }).expect(200);
        }
      }
      const b = (await pulse.http.get(`/api/batches/${batch}`).set(pulse.admin).expect(200)).body;
      return b.run_finished.length === 5 && b.run_failed.length === 1 && b;
    }, 30000);

    for (const { run, log } of held.values()) expect(await readLog(pulse, run.id)).toBe(log);
    for (const runner of busy) {
      const { run } = held.get(runner)!;
      expect(await getRun(pulse, run.id)).toMatchObject({ state: 'finished', attempt: 1, host: runner.id });
    }
    expect(await getRun(pulse, done.run.id)).toEqual(beforeCrash);
  }, 180000);
});

/** A TCP proxy in front of the shared PostgreSQL that a test can cut and restore. */
class CuttableProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = new Socket();
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      upstream.connect(this.target.port, this.target.host, () => {
        client.pipe(upstream);
        upstream.pipe(client);
      });
    });
    await new Promise<void>((ready, fail) => {
      server.once('error', fail);
      server.listen(this.port, '127.0.0.1', () => ready());
    });
    const address = server.address();
    if (typeof address === 'object' && address) this.port = address.port;
    this.server = server;
  }

  /** The database "goes away": established connections die, new ones are refused. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((done) => (server ? server.close(() => done()) : done()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

(databaseKind() === 'postgres' ? describe : describe.skip)('the database going away (PostgreSQL)', () => {
  // The proxied process declares runners dead after 3 s; the direct one, which never loses the
  // database, after 30 s, so that only the proxied process judges the runners it serves.
  const DEAD_AFTER = 3;
  let pulse: TestPulse;
  let proxied: TestPulse;
  let proxy: CuttableProxy;

  beforeAll(async () => {
    pulse = await startPulse({ RUNNER_DEAD_AFTER: '30' });
    const url = new URL(pulse.databaseUrl!);
    proxy = new CuttableProxy({ host: url.hostname, port: Number(url.port || 5432) });
    await proxy.open();
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    // A second orchestrator process whose only way to the database is the proxy.
    proxied = pulse.via(
      await pulse.spawnAnother({
        ...FAST,
        DATABASE_URL: url.toString(),
        RUNNER_DEAD_AFTER: String(DEAD_AFTER),
        LONG_POLL_MAX: '2.5',
      }),
    );
  });
  afterAll(async () => {
    await proxy?.cut();
    await pulse?.close();
  });

  it('answers 503 JSON (not 500, not a hang) while it is away, and recovers by itself without losing a runner', async () => {
    const { runner, run } = await takeOne(proxied, 'outage');
    await runner.update(run, 0, 'before\n').expect(200);
    await proxied.http.get('/api/health').expect(200);

    await proxy.cut();
    const cutAt = Date.now();

    const health = await proxied.http.get('/api/health').timeout(10000);
    expect(health.status).toBe(503);
    for (const call of [
      () => runner.heartbeatRaw({ status: 'busy', runs: [run.id] }).timeout(10000),
      () => runner.update(run, 7, 'during\n').timeout(10000),
      () => proxied.http.get('/api/runs').set(proxied.admin).timeout(10000),
      () => proxied.http.post('/api/runs').set(proxied.admin).send({ namespace: 'outage', script: 'true' }).timeout(10000),
      () => proxied.http.post('/api/runner/registration').send({ token: 'test-registration-token-0123456789' }).timeout(10000),
    ]) {
      const res = await call();
      expect({ status: res.status, body: res.body }).toEqual({
        status: 503,
        body: { statusCode: 503, message: expect.any(String), error: 'Service Unavailable' },
      });
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.text).not.toMatch(/\bat \S+ \(|\.[jt]s:\d+:\d+|"stack"/);
    }
    // Down for longer than RUNNER_DEAD_AFTER: the runner could not heartbeat all that time.
    const left = DEAD_AFTER * 1000 + 500 - (Date.now() - cutAt);
    if (left > 0) await new Promise((r) => setTimeout(r, left));

    await proxy.open();

    await eventually(async () => (await proxied.http.get('/api/health')).status === 200, 20000);
    // The runner carries on: not declared dead for a silence nobody could hear, lease intact.
    const beat = await runner.heartbeat({ status: 'busy', runs: [run.id] });
    expect(beat.cancel).toBeUndefined();
    expect((await runner.update(run, 7, 'after\n').expect(200)).body).toEqual({ offset: 13, cancel: false });
    await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: 13 }).expect(200);
    // And the other process, which never lost the database, sees it all.
    expect(await getRun(pulse, run.id)).toMatchObject({ state: 'finished', attempt: 1, host: runner.id });
    expect(await readLog(pulse, run.id)).toBe('before\nafter\n');
    expect(await runnerState(pulse, runner.id)).not.toBe('dead');
  });

  it('wakes long polls again once its LISTEN connection is back', async () => {
    const runner = await TestRunner.register(proxied, { labels: ['outage-2'] });
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'outage-2', repositories: ['https://example.com/a.git'] });
    await proxy.cut();
    await proxy.open();
    await eventually(async () => (await proxied.http.get('/api/health')).status === 200, 20000);
    const check = new Client({ connectionString: pulse.databaseUrl });
    await check.connect();
    try {
      // Both processes LISTEN again.
      await eventually(async () => {
        const { rows } = await check.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND datname = current_database()`,
        );
        return rows[0].n >= 2;
      }, 20000);
    } finally {
      await check.end();
    }
    // A poll waiting on the proxied process, a run submitted on the other one: a poll only gets a
    // run while it waits when a NOTIFY wakes it (at the end of its wait it answers with no run).
    // On a busy machine the submission may come after the wait ended: then cancel it, try again.
    await eventually(async () => {
      const poll = runner.heartbeatRaw({ status: 'ready', runs: [], wait: 2.5 });
      const answered = poll.then((res) => res);
      await eventually(async () => /^pulse_long_polls_waiting [1-9]/m.test((await proxied.http.get('/metrics')).text), 5000, 20);
      const { runs } = await submit(pulse, { namespace: 'outage-2', labels: ['outage-2'] });
      const res = await answered;
      expect(res.status).toBe(200);
      if (res.body.heartbeat.run?.id === runs[0]) return true;
      await pulse.http.delete(`/api/runs/${runs[0]}`).set(pulse.admin).expect(200);
      return false;
    }, 40000, 0);
  }, 90000);
});
