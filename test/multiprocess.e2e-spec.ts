import { Client } from 'pg';
import type { Response } from 'supertest';
import { Assignment, submit, TestRunner } from './support/protocol';
import { databaseKind, eventually, startPulse, TestPulse } from './support/pulse';

/**
 * Several orchestrator processes on one PostgreSQL (SPEC section 4, issue 3): dispatch, leases
 * and sweeps stay exact with runners spread over two processes, and long polls are woken across
 * processes. PGlite is one process: these run on the PostgreSQL project only.
 */
const describeOnPostgres = databaseKind() === 'postgres' ? describe : describe.skip;

/** `pulse_long_polls_waiting` of one process. */
async function waiting(pulse: TestPulse): Promise<number> {
  const text = (await pulse.http.get('/metrics').expect(200)).text;
  return Number(/^pulse_long_polls_waiting (\d+)/m.exec(text)?.[1] ?? NaN);
}

describeOnPostgres('long polls across two orchestrator processes', () => {
  let a: TestPulse;
  let b: TestPulse;

  beforeAll(async () => {
    // Long polls may wait 20 s; nothing here waits for a sweep.
    a = await startPulse({ LONG_POLL_MAX: '20', RUNNER_DEAD_AFTER: '30', HEARTBEAT_INTERVAL: '5', SWEEP_INTERVAL: '1' });
    b = a.via(await a.spawnAnother());
  });
  afterAll(() => a.close());

  it('a runner waiting on process B gets a run submitted on process A, well before its wait ends', async () => {
    const runner = await TestRunner.register(b, { labels: ['lp-1'] });
    await a.http.put('/api/namespaces').set(a.admin).send({ namespace_name: 'lp-1', repositories: ['https://example.com/a.git'] });
    const before = await waiting(b);
    const started = Date.now();
    const poll = runner.heartbeatRaw({ status: 'ready', runs: [], wait: 20 }).then((res) => ({ res, at: Date.now() }));
    await eventually(async () => (await waiting(b)) > before, 10000, 20);
    const { runs } = await submit(a, { namespace: 'lp-1', labels: ['lp-1'] });
    const submitted = Date.now();
    const { res, at } = await poll;
    expect(res.status).toBe(200);
    // Only a wake-up hands out a run during the wait (its end answers with no run), and it came
    // long before the 20 s were over (a generous bound for a busy machine).
    expect(res.body.heartbeat.run).toMatchObject({ id: runs[0], attempt: 1 });
    expect(at - started).toBeLessThan(15000);
    expect(at - submitted).toBeLessThan(10000);
  });

  it('a submission of k runs wakes about k of many waiting runners, not all of them', async () => {
    const label = 'lp-k';
    await a.http.put('/api/namespaces').set(a.admin).send({ namespace_name: label, repositories: ['https://example.com/a.git'] });
    const runners = await Promise.all(
      Array.from({ length: 20 }, (_, i) => TestRunner.register(i % 2 ? b : a, { labels: [label] })),
    );
    const base = (await waiting(a)) + (await waiting(b));
    const answers = new Map<TestRunner, Response>();
    const polls = runners.map((runner) =>
      runner.heartbeatRaw({ status: 'ready', runs: [], wait: 20 }).then((res) => {
        answers.set(runner, res);
        return res;
      }),
    );
    await eventually(async () => (await waiting(a)) + (await waiting(b)) === base + 20, 15000, 50);

    const { runs } = await submit(a, { namespace: label, labels: [label], repos: ['https://example.com/a.git'], jobs: [{}, {}] });
    await eventually(async () => answers.size >= 2, 15000, 20);
    // Give any wrongly woken poll time to answer: the others are still waiting.
    await new Promise((r) => setTimeout(r, 1000));
    const handed = [...answers.values()].map((res) => res.body.heartbeat.run as Assignment | undefined);
    expect(handed.every((run) => run !== undefined)).toBe(true);
    expect(handed.map((run) => run!.id).sort()).toEqual([...runs].sort());
    expect(answers.size).toBe(2);
    expect((await waiting(a)) + (await waiting(b))).toBe(base + 18);

    // k more runs answer k more polls, wherever they wait.
    const more = await submit(a, { namespace: label, labels: [label], repos: ['https://example.com/a.git'], jobs: Array.from({ length: 18 }, () => ({})) });
    await Promise.all(polls);
    const all = [...answers.values()].map((res) => (res.body.heartbeat.run as Assignment).id).sort();
    expect(all).toEqual([...runs, ...more.runs].sort());
  }, 90000);
});

/** One hand-out of a run, one call about it: what the test saw, in the order it saw it. */
interface Handout {
  run: string;
  messageId: string;
  runner: string;
  attempt: number;
  receivedAt: number;
}
interface LeaseCall {
  run: string;
  messageId: string;
  runner: string;
  kind: 'update' | 'complete';
  status: number;
  sentAt: number;
}

describeOnPostgres('two orchestrator processes, 50 runners, 1,000 runs, half the runners lost midway', () => {
  const RUNS = 1000;
  const RUNNERS = 50;
  let a: TestPulse;
  let b: TestPulse;
  let db: Client;

  beforeAll(async () => {
    const env = { RUNNER_DEAD_AFTER: '3', HEARTBEAT_INTERVAL: '0.5', LONG_POLL_MAX: '1', SWEEP_INTERVAL: '0.2' };
    a = await startPulse(env);
    b = a.via(await a.spawnAnother());
    db = new Client({ connectionString: a.databaseUrl });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await a?.close();
  });

  it('ends every run exactly once, never gives a run to two runners at once, and leaves nothing running', async () => {
    const label = 'mp';
    const repo = 'https://example.com/a.git';
    await a.http.put('/api/namespaces').set(a.admin).send({ namespace_name: label, repositories: [repo] }).expect(201);
    const runners = await Promise.all(
      Array.from({ length: RUNNERS }, (_, i) => TestRunner.register(i % 2 ? b : a, { labels: [label] })),
    );
    // Half the runners, on both processes, go silent midway, each holding a run it acknowledged.
    const quitters = new Set(runners.slice(0, RUNNERS / 2));
    const abandoned = new Map<TestRunner, Assignment>();

    const handouts: Handout[] = [];
    const calls: LeaseCall[] = [];
    const completed = new Map<string, string[]>();
    const unexpected: string[] = [];
    let submitted = 0;
    let finished = false;

    const call = async (runner: TestRunner, run: Assignment, kind: LeaseCall['kind'], send: () => Promise<Response>) => {
      const sentAt = Date.now();
      const res = await send();
      calls.push({ run: run.id, messageId: run.messageId, runner: runner.id, kind, status: res.status, sentAt });
      if (res.status !== 200 && res.status !== 409) unexpected.push(`${kind} ${res.status} ${res.text}`);
      return res;
    };

    const drive = async (runner: TestRunner): Promise<void> => {
      while (!finished) {
        const beat = await runner.heartbeatRaw({ status: 'ready', runs: [], wait: 1 });
        if (beat.status !== 200) {
          unexpected.push(`heartbeat ${beat.status} ${beat.text}`);
          continue;
        }
        const run = beat.body.heartbeat.run as Assignment | undefined;
        if (!run) continue;
        handouts.push({ run: run.id, messageId: run.messageId, runner: runner.id, attempt: run.attempt, receivedAt: Date.now() });
        const log = `run ${run.id} attempt ${run.attempt} on ${runner.id}\n`;
        const update = await call(runner, run, 'update', () => runner.update(run, 0, log));
        if (update.status !== 200) continue;
        if (quitters.has(runner) && completed.size >= RUNS / 4 && !abandoned.has(runner)) {
          abandoned.set(runner, run);
          return; // silent from now on
        }
        const done = await call(runner, run, 'complete', () =>
          runner.complete(run, { status: 'finished', exitCode: 0, logBytes: Buffer.byteLength(log) }),
        );
        if (done.status === 200) completed.set(run.id, [...(completed.get(run.id) ?? []), run.messageId]);
      }
    };

    // Database samples while it all runs: no runner ever holds two runs, no running run lacks
    // its runner or lease.
    const violations: unknown[] = [];
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const doubled = await db.query(
          `SELECT runner_id, count(*)::int AS n FROM run WHERE state = 'running' GROUP BY 1 HAVING count(*) > 1`,
        );
        const orphaned = await db.query(
          `SELECT id FROM run WHERE state = 'running' AND (runner_id IS NULL OR message_id IS NULL)`,
        );
        violations.push(...doubled.rows, ...orphaned.rows);
        samples++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const submitOn = async (pulse: TestPulse, n: number): Promise<string[]> => {
      const res = await pulse.http
        .post('/api/runs')
        .set(pulse.admin)
        .send({ namespace: label, labels: [label], script: 'true', repos: [repo], jobs: Array.from({ length: n }, () => ({})), max_attempts: 3 })
        .expect(201);
      submitted += n;
      return res.body.runs as string[];
    };

    const ids: string[] = [];
    const loops: Array<Promise<void>> = [];
    try {
      ids.push(...(await submitOn(a, RUNS / 4)));
      loops.push(...runners.map((runner) => drive(runner)));
      // The rest arrives while runners work, on both processes.
      ids.push(...(await submitOn(b, RUNS / 4)));
      ids.push(...(await submitOn(a, RUNS / 4)));
      ids.push(...(await submitOn(b, RUNS / 4)));
      expect(submitted).toBe(RUNS);
      await eventually(async () => completed.size === RUNS, 120000, 200);
    } finally {
      finished = true;
      await Promise.allSettled(loops);
      sampling = false;
      await sampler.catch(() => undefined);
    }

    expect(unexpected).toEqual([]);
    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(10);
    expect(abandoned.size).toBe(quitters.size);
    process.stdout.write(
      `1,000 runs: ${handouts.length} hand-outs, ${calls.filter((c) => c.status === 409).length} calls refused (409), ${samples} database samples\n`,
    );

    // Every run ended exactly once, finished, by one lease.
    expect([...completed.keys()].sort()).toEqual([...ids].sort());
    expect([...completed.values()].filter((leases) => leases.length !== 1)).toEqual([]);
    const { rows: states } = await db.query(`SELECT state, count(*)::int AS n FROM run GROUP BY state`);
    expect(states).toEqual([{ state: 'finished', n: RUNS }]);

    // A lease is handed to one runner only, and a run's leases are all different.
    const byLease = new Map<string, Handout>();
    for (const h of handouts) {
      const seen = byLease.get(h.messageId);
      if (seen) expect({ run: h.run, runner: h.runner }).toEqual({ run: seen.run, runner: seen.runner });
      byLease.set(h.messageId, h);
    }
    // No call under a lease succeeded once a newer lease on the same run had been handed out.
    const latestBefore = (run: string, t: number): Handout[] => handouts.filter((h) => h.run === run && h.receivedAt < t);
    const stale = calls.filter(
      (c) => c.status === 200 && latestBefore(c.run, c.sentAt).some((h) => h.messageId !== c.messageId && h.receivedAt > (byLease.get(c.messageId)?.receivedAt ?? 0)),
    );
    expect(stale).toEqual([]);
    // A run goes to a second runner only after its holder went silent for RUNNER_DEAD_AFTER
    // (3 s): never two hand-outs of one run to two runners in quick succession.
    const rehanded: Array<[Handout, Handout]> = [];
    const perRun = new Map<string, Handout[]>();
    for (const h of handouts) perRun.set(h.run, [...(perRun.get(h.run) ?? []), h]);
    for (const list of perRun.values()) {
      for (let i = 1; i < list.length; i++) {
        if (list[i].messageId !== list[i - 1].messageId && list[i].receivedAt - list[i - 1].receivedAt < 1500) rehanded.push([list[i - 1], list[i]]);
      }
    }
    expect(rehanded).toEqual([]);

    // The abandoned runs went to someone else under a new lease, with a new attempt, and finished.
    const lostBy = new Map<string, Assignment[]>();
    for (const run of abandoned.values()) lostBy.set(run.id, [...(lostBy.get(run.id) ?? []), run]);
    const { rows: final } = await db.query(
      `SELECT id, runner_id, message_id, attempt, result FROM run WHERE id = ANY($1::uuid[])`,
      [[...lostBy.keys()]],
    );
    expect(final).toHaveLength(lostBy.size);
    for (const row of final) {
      const lost = lostBy.get(row.id)!;
      const holders = [...abandoned.entries()].filter(([, run]) => run.id === row.id).map(([runner]) => runner.id);
      expect(holders).not.toContain(row.runner_id);
      expect(lost.map((run) => run.messageId)).not.toContain(row.message_id);
      expect(row.attempt).toBeGreaterThan(Math.max(...lost.map((run) => run.attempt)));
      expect(completed.get(row.id)).toEqual([row.message_id]);
    }

    // The silent runners' late calls change nothing.
    for (const [runner, run] of abandoned) {
      const via = runners.indexOf(runner) % 2 ? b : a;
      await via.http
        .post(`/api/runner/complete/${runner.id}/${run.project}`)
        .set(runner.auth)
        .send({ messageId: run.messageId, result: { id: run.id, status: 'failed', exitCode: 1 } })
        .expect(409);
    }
    const { rows: after } = await db.query(
      `SELECT id, runner_id, message_id, attempt, result FROM run WHERE id = ANY($1::uuid[])`,
      [final.map((row) => row.id)],
    );
    expect(after).toEqual(expect.arrayContaining(final));

    // Nothing stays running or waiting, and the silent half is dead.
    const { rows: holding } = await db.query(`SELECT count(*)::int AS n FROM run WHERE state IN ('running', 'waiting')`);
    expect(holding).toEqual([{ n: 0 }]);
    const { rows: dead } = await db.query(`SELECT id FROM runner WHERE state = 'dead'`);
    expect(dead.map((r) => r.id)).toEqual(expect.arrayContaining([...quitters].map((r) => r.id)));
  }, 300000);
});
