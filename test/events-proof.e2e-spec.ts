import { Client } from 'pg';
import { Assignment, HeartbeatBody, TestRunner } from './support/protocol';
import { ADMIN_TOKEN, databaseKind, eventually, startPulse, TestPulse } from './support/pulse';
import { SseClient } from './support/sse';

/**
 * THE GUARANTEE of the feed (SPEC section 8): a reader that reconnects with the last id it saw
 * misses nothing and sees nothing twice, with two orchestrator processes on one PostgreSQL and
 * many concurrent writers.
 *
 * Two processes, 30 scripted runners spread over both, submissions and cancels through both:
 * thousands of state changes (dispatch, complete, requeue of a lost run, cancel of waiting and
 * running runs). Meanwhile one reader disconnects at random points and resumes with its last id,
 * alternating between the processes, and another stays connected. At the end, what each saw is
 * exactly the database's event history, each event once, in increasing id order; every run's
 * states follow the state machine to its final state; every batch has one `done` event after its
 * last run event.
 *
 * PROOF_NAIVE=1 swaps the sequencer for the naive design (ids given at insert time, readers read
 * `id > after` up to the largest committed id): the test then fails, because ids commit out of order.
 */
const describeOnPostgres = databaseKind() === 'postgres' ? describe : describe.skip;
const AUTH = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const RUNNERS = 30;
const BATCHES = 30;
const RUNS_PER_BATCH = 30;
const NAMESPACES = ['proof-a', 'proof-b', 'proof-c'];
const NAIVE = process.env.PROOF_NAIVE === '1';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)];

const NEXT: Record<string, string[]> = {
  waiting: ['running', 'canceled'],
  running: ['finished', 'failed', 'timeout', 'canceled', 'waiting'],
};

interface Seen {
  id: number;
  event: string;
  data: unknown;
}

/** Dispatch, ack, then complete, lose (requeue) or confirm a cancel; until `stop`. */
async function runnerLoop(runner: TestRunner, stop: () => boolean): Promise<number> {
  let changes = 0;
  let offered: Assignment | undefined;
  while (!stop()) {
    let hb: HeartbeatBody;
    if (!offered) {
      hb = await runner.heartbeat({ status: 'ready', runs: [] });
      offered = hb.run;
      if (!offered) {
        await sleep(5 + Math.random() * 20);
        continue;
      }
    }
    const run: Assignment = offered;
    offered = undefined;
    const ack = await runner.update(run, 0, '');
    if (ack.status !== 200) continue; // canceled before the runner took it
    await sleep(Math.random() * 15);
    const r = Math.random();
    if (r < 0.15) {
      // Lost: a ready heartbeat that no longer lists the acknowledged run requeues it.
      hb = await runner.heartbeat({ status: 'ready', runs: [] });
      offered = hb.run;
      changes++;
      continue;
    }
    let status = Math.random() < 0.7 ? 'finished' : 'failed';
    if (r < 0.35) {
      hb = await runner.heartbeat({ status: 'busy', runs: [run.id] });
      if (hb.cancel?.includes(run.id)) status = 'canceled';
    }
    const done = await runner.complete(run, { status, exitCode: status === 'finished' ? 0 : 1 });
    if (done.status === 200) changes++;
  }
  return changes;
}

/** Connects, reads for a random while, drops the connection; resumes with the last id seen. */
async function choppyReader(procs: TestPulse[], stop: () => boolean, head: () => Promise<number>): Promise<{ seen: Seen[]; connects: number }> {
  const seen: Seen[] = [];
  let last = '0';
  let connects = 0;
  for (;;) {
    const finishing = stop();
    const target = procs[connects % procs.length];
    connects++;
    const c = await SseClient.open(`${target.url}/api/events`, { ...AUTH, 'last-event-id': last });
    if (c.status !== 200) throw new Error(`feed answered ${c.status}: ${c.body}`);
    await sleep(finishing ? 300 : 10 + Math.random() * 250);
    c.close();
    for (const f of c.frames) seen.push({ id: Number(f.id), event: f.event ?? '', data: JSON.parse(f.data ?? 'null') });
    last = c.lastId ?? last;
    if (finishing && Number(last) >= (await head())) return { seen, connects };
  }
}

describeOnPostgres('the feed guarantee: two processes, concurrent writers, a reader that reconnects', () => {
  let a: TestPulse;
  let b: TestPulse;
  let db: Client;

  beforeAll(async () => {
    a = await startPulse({ CANCEL_GRACE: '0.5', SWEEP_INTERVAL: '0.2', LOG_LEVEL: 'warn', DB_POOL_SIZE: '10' });
    b = a.via(await a.spawnAnother());
    db = new Client({ connectionString: a.databaseUrl });
    await db.connect();
    if (NAIVE) {
      // The naive design: an id from a sequence at insert time; readers go up to the largest committed id.
      await db.query(`CREATE SEQUENCE naive_event_seq`);
      await db.query(`ALTER TABLE event ALTER COLUMN seq SET DEFAULT nextval('naive_event_seq')`);
      await db.query(`
        CREATE OR REPLACE FUNCTION pulse_sequence_events(lim integer, OUT numbered bigint, OUT head bigint)
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
          numbered := 0;
          UPDATE event_head SET last = GREATEST(last, (SELECT COALESCE(max(seq), 0) FROM event)) RETURNING last INTO head;
          PERFORM pg_notify('pulse_events', head::text);
        END $$`);
    }
  });
  afterAll(async () => {
    await db?.end();
    await a?.close();
  });

  it('a reconnecting reader sees exactly the history, each event once, in order', async () => {
    const procs = [a, b];
    for (const ns of NAMESPACES) {
      await a.http.put('/api/namespaces').set(AUTH).send({ namespace_name: ns, repositories: ['r1', 'r2', 'r3'] }).expect(201);
    }
    const runners = await Promise.all(Array.from({ length: RUNNERS }, (_, i) => TestRunner.register(procs[i % 2])));

    let writersDone = false;
    let readersStop = false;
    const head = async (): Promise<number> => Number((await db.query(`SELECT last FROM event_head`)).rows[0].last);
    const steady = await SseClient.open(`${b.url}/api/events?after=0`, AUTH);
    const reader = choppyReader(procs, () => readersStop, head);
    const loops = runners.map((r) => runnerLoop(r, () => writersDone));

    // Submissions and cancels through both processes.
    const submitted: string[] = [];
    let cancels = 0;
    const canceler = (async () => {
      while (!writersDone) {
        await sleep(15);
        if (submitted.length === 0) continue;
        const res = await pick(procs).http.delete(`/api/runs/${pick(submitted)}`).set(AUTH);
        if (res.status === 200) cancels++;
      }
    })();
    for (let i = 0; i < BATCHES; i++) {
      const res = await procs[i % 2].http
        .post('/api/runs')
        .set(AUTH)
        .send({
          namespace: NAMESPACES[i % NAMESPACES.length],
          script: 'true',
          repos: ['r1'],
          jobs: Array.from({ length: RUNS_PER_BATCH }, () => ({})),
          max_attempts: 3,
        })
        .expect(201);
      submitted.push(...(res.body.runs as string[]));
      await sleep(50);
    }
    // Until every run is final (canceled running runs end at CANCEL_GRACE at the latest).
    await eventually(async () => {
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM run WHERE state IN ('waiting', 'running')`);
      return rows[0].n === 0;
    }, 90000, 200);
    writersDone = true;
    const changes = (await Promise.all(loops)).reduce((x, y) => x + y, 0);
    await canceler;
    // Every event numbered, every batch's done event written.
    await eventually(async () => {
      const { rows } = await db.query(
        `SELECT (SELECT count(*) FROM event WHERE seq IS NULL)::int AS unnumbered,
                (SELECT count(*) FROM batch WHERE done_at IS NULL)::int AS open`,
      );
      // (The naive design writes no done events.)
      return rows[0].unnumbered === 0 && (rows[0].open === 0 || NAIVE);
    }, 30000, 100).catch(async (err: Error) => {
      const open = await db.query(`SELECT b.id, b.done_at, (SELECT array_agg(state) FROM run WHERE batch_id = b.id) AS states FROM batch b WHERE done_at IS NULL`);
      const un = await db.query(`SELECT count(*) FROM event WHERE seq IS NULL`);
      throw new Error(`${err.message}: ${JSON.stringify(open.rows).slice(0, 2000)} unnumbered ${JSON.stringify(un.rows)}\n${a.proc.output().slice(-3000)}\n${b.proc.output().slice(-3000)}`);
    });
    readersStop = true;
    const { seen, connects } = await reader;
    const end = await head();
    await steady.waitFor((c) => Number(c.lastId) >= end, 30000, 'the steady reader at the head');
    steady.close();

    const history = (await db.query(`SELECT seq, kind, data FROM event ORDER BY seq`)).rows.map((r: { seq: string; kind: string; data: unknown }) => ({
      id: Number(r.seq),
      event: r.kind,
      data: r.data,
    }));
    expect(history.length).toBe(end);
    expect(history.map((e) => e.id)).toEqual(Array.from({ length: end }, (_, i) => i + 1));
    const summary = (xs: Seen[]): string => `${xs.length} events, ids ${xs[0]?.id}..${xs[xs.length - 1]?.id}`;
    process.stdout.write(
      `feed proof: ${end} events, ${changes} runner-side changes, ${cancels} cancels, ${connects} reconnections; choppy reader ${summary(seen)}\n`,
    );
    expect(seen.find((e) => e.event === 'resync')).toBeUndefined();
    // Each event once, in increasing id order, exactly the history (ids and payloads).
    const missing = history.filter((e) => !seen.some((s) => s.id === e.id)).map((e) => e.id);
    expect({ missing: missing.slice(0, 20), count: missing.length }).toEqual({ missing: [], count: 0 });
    expect(seen.map((e) => e.id)).toEqual(history.map((e) => e.id));
    expect(seen).toEqual(history);
    expect(steady.events().map((e) => ({ id: e.id, event: e.event, data: e.data }))).toEqual(history);

    // Every run's states follow the state machine from waiting to its final state.
    const finals = new Map<string, string>(
      (await db.query(`SELECT id, state FROM run`)).rows.map((r: { id: string; state: string }) => [r.id, r.state]),
    );
    const states = new Map<string, string[]>();
    for (const e of history) {
      if (e.event !== 'run') continue;
      const d = e.data as { id: string; state: string };
      states.set(d.id, [...(states.get(d.id) ?? []), d.state]);
    }
    expect(finals.size).toBe(BATCHES * RUNS_PER_BATCH);
    let transitions = 0;
    for (const [id, final] of finals) {
      let state = 'waiting';
      for (const next of states.get(id) ?? []) {
        if (!NEXT[state]?.includes(next)) throw new Error(`run ${id}: ${state} → ${next} in ${JSON.stringify(states.get(id))}`);
        state = next;
        transitions++;
      }
      expect([id, state]).toEqual([id, final]);
    }
    expect(transitions).toBeGreaterThan(1500);
    if (NAIVE) return;
    // One done event per batch, after the last event of its runs, with its counts.
    const doneAt = new Map<string, number>();
    const lastRunEvent = new Map<string, number>();
    for (const e of history) {
      const d = e.data as { batch_id?: string; done?: boolean };
      if (e.event === 'batch' && d.done) {
        expect(doneAt.has(d.batch_id!)).toBe(false);
        doneAt.set(d.batch_id!, e.id);
      }
      if (e.event === 'run') lastRunEvent.set(d.batch_id!, e.id);
    }
    expect(doneAt.size).toBe(BATCHES);
    for (const [batch, id] of doneAt) expect(id).toBeGreaterThan(lastRunEvent.get(batch)!);
  }, 180000);
});
