/* eslint-disable @typescript-eslint/no-explicit-any -- a bench harness: untyped JSON bodies, IPC messages and autocannon's untyped API */
/**
 * A load process: the driver (run.ts) forks several of these and sends each a task over IPC.
 * Every simulated runner, submitter or database worker lives here, never in the driver or the
 * server under test, and talks to the server over real HTTP keep-alive (or to PostgreSQL).
 */
import autocannon from 'autocannon';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';
import { JsonClient, LeanConnection } from './lib/http';
import { ADMIN_TOKEN, REGISTRATION_TOKEN } from './lib/server';
import { ciLogChunks, mapLimit, sleep, wallMs } from './lib/util';

export interface Runner {
  id: string;
  token: string;
}

/** Response statuses and network errors seen by a task, for the correctness report. */
class Tally {
  statuses: Record<string, number> = {};
  networkErrors = 0;
  firstError: string | undefined;

  status(code: number, what = ''): void {
    const key = String(code);
    this.statuses[key] = (this.statuses[key] ?? 0) + 1;
    if ((code < 200 || code >= 300) && !this.firstError) this.firstError = `${what} answered ${code}`;
  }

  network(err: unknown): void {
    this.networkErrors++;
    this.firstError ??= (err as Error).message;
  }

  get errors(): number {
    return this.networkErrors + Object.entries(this.statuses).reduce((n, [k, v]) => (k.startsWith('2') ? n : n + v), 0);
  }

  toJSON(): Record<string, unknown> {
    return { statuses: this.statuses, networkErrors: this.networkErrors, errors: this.errors, firstError: this.firstError };
  }
}

let stopping = false;
const stopHooks = new Set<() => void>();

function onStop(fn: () => void): () => void {
  stopHooks.add(fn);
  return () => stopHooks.delete(fn);
}

type Args = Record<string, any>;

/** The runner's streaming masker (runner/dist/mask.js, built by `npm run build`). */
interface MaskerLike {
  write(chunk: Buffer): Buffer;
  end(): Buffer;
}

function newMasker(values: string[]): MaskerLike {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mask = require(join(__dirname, '../../runner/dist/mask.js')) as { Masker: new (p: Buffer[]) => MaskerLike; maskPatterns(v: string[]): Buffer[] };
  return new mask.Masker(mask.maskPatterns(values));
}
type Task = (args: Args) => Promise<unknown>;

/** `n` connected pg clients, each its own connection. */
function connectClients(dbUrl: string, n: number): Promise<Client[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const c = new Client({ connectionString: dbUrl });
      await c.connect();
      return c;
    }),
  );
}

const tasks: Record<string, Task> = {
  /** Registers `count` runners; returns their ids and tokens. */
  async register({ url, count, concurrency = 32 }: Args) {
    const http = new JsonClient(url);
    const tally = new Tally();
    const runners: Runner[] = [];
    await mapLimit(Array.from({ length: count }), concurrency, async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          const res = await http.post('/api/runner/registration', { token: REGISTRATION_TOKEN, labels: [] });
          tally.status(res.status, 'registration');
          if (res.status === 201) {
            runners.push({ id: res.body.runner_id, token: res.body.runner_token });
            return;
          }
        } catch (err) {
          tally.network(err);
        }
        await sleep(50);
      }
    });
    http.close();
    return { runners, tally: tally.toJSON() };
  },

  /**
   * Scenario 1: autocannon, one connection per runner, each sending its own idle heartbeat.
   * Connections open in groups of `group` every `staggerMs` from `startAt` (a thousand at once
   * would overflow the server's accept queue and measure SYN retries), all stay open through the
   * warm-up, and only responses inside the window [measureFrom, measureTo] (wall clock, the same
   * for every load process) are counted.
   */
  async autocannon({ url, runners, startAt, staggerMs, group, measureFrom, measureTo }: Args) {
    const list = runners as Runner[];
    const latencies: number[] = [];
    const tally = new Tally();
    const all = new Tally();
    let badBodies = 0;
    let requests = 0;
    const u = new URL(url);
    const groups: Runner[][] = [];
    for (let i = 0; i < list.length; i += group) groups.push(list.slice(i, i + group));
    const inWindow = (): boolean => {
      const now = wallMs();
      return now >= measureFrom && now <= measureTo;
    };
    const runs = groups.map(async (set, gi) => {
      const at = startAt + gi * staggerMs;
      await sleep(Math.max(0, at - wallMs()));
      let next = 0;
      const instance = autocannon({
        url: `${u.origin}/api/runner/heartbeat`,
        method: 'POST',
        connections: set.length,
        duration: Math.max(0.1, (measureTo - wallMs()) / 1000),
        headers: { 'content-type': 'application/json' },
        setupClient(client: any) {
          const r = set[next++ % set.length];
          client.setHeadersAndBody(
            { 'content-type': 'application/json', authorization: `Bearer ${r.token}` },
            JSON.stringify({ id: r.id, status: 'ready', runs: [] }),
          );
        },
        verifyBody(body: string) {
          // An idle runner must get an empty heartbeat: no run, no cancel.
          const ok = body.includes('"status":"ok"') && !body.includes('"run"') && !body.includes('"cancel"');
          if (!ok) badBodies++;
          return true;
        },
      });
      instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
        all.status(statusCode, 'heartbeat');
        if (!inWindow()) return;
        requests++;
        latencies.push(responseTime);
        tally.status(statusCode, 'heartbeat');
      });
      instance.on('reqError', (err: Error) => {
        all.network(err);
        if (inWindow()) tally.network(err);
      });
      await instance;
    });
    await Promise.all(runs);
    return {
      requests,
      seconds: (measureTo - measureFrom) / 1000,
      badBodies,
      latencies: Float64Array.from(latencies),
      /** What happened inside the window. */
      tally: tally.toJSON(),
      /** Everything, the ramp and warm-up included. */
      whole: all.toJSON(),
    };
  },

  /**
   * Scenarios 2 and 6: each runner loops heartbeat (ready) -> complete until the queue is drained
   * (two empty answers in a row).
   */
  async dispatch({ url, runners, deadline = Infinity }: Args) {
    const tally = new Tally();
    const received: string[] = [];
    let heartbeats = 0;
    let firstAt = Infinity;
    let lastAt = 0;
    await Promise.all(
      (runners as Runner[]).map(async (r) => {
        // One connection per simulated runner, as a real runner holds one.
        const http = new LeanConnection(url);
        let empty = 0;
        while (empty < 2 && !stopping && wallMs() < deadline) {
          const sent = wallMs();
          firstAt = Math.min(firstAt, sent);
          let hb;
          try {
            hb = await http.post('/api/runner/heartbeat', { id: r.id, status: 'ready', runs: [] }, r.token);
          } catch (err) {
            tally.network(err);
            await sleep(20);
            continue;
          }
          heartbeats++;
          tally.status(hb.status, 'heartbeat');
          const run = hb.body?.heartbeat?.run;
          if (!run) {
            empty++;
            await sleep(10);
            continue;
          }
          empty = 0;
          received.push(run.id);
          try {
            const done = await http.post(
              `/api/runner/complete/${r.id}/${run.project}`,
              { messageId: run.messageId, result: { id: run.id, status: 'finished', exitCode: 0 } },
              r.token,
            );
            tally.status(done.status, 'complete');
            lastAt = Math.max(lastAt, wallMs());
          } catch (err) {
            tally.network(err);
          }
        }
        http.close();
      }),
    );
    return { received, heartbeats, firstAt, lastAt, tally: tally.toJSON() };
  },

  /**
   * Scenario 3: runners long-poll (`wait`) until told to stop; every run received is recorded with
   * the moment its heartbeat response arrived, then completed at once.
   */
  async longpoll({ url, runners, wait }: Args) {
    const http = new JsonClient(url);
    const tally = new Tally();
    const received: Array<{ id: string; at: number }> = [];
    let heartbeats = 0;
    const off = onStop(() => http.agent.destroy());
    await Promise.all(
      (runners as Runner[]).map(async (r) => {
        while (!stopping) {
          let hb;
          try {
            hb = await http.post('/api/runner/heartbeat', { id: r.id, status: 'ready', runs: [], wait }, r.token);
          } catch (err) {
            if (!stopping) tally.network(err);
            continue;
          }
          const at = wallMs();
          heartbeats++;
          tally.status(hb.status, 'heartbeat');
          const run = hb.body?.heartbeat?.run;
          if (!run) continue;
          received.push({ id: run.id, at });
          try {
            const done = await http.post(
              `/api/runner/complete/${r.id}/${run.project}`,
              { messageId: run.messageId, result: { id: run.id, status: 'finished', exitCode: 0 } },
              r.token,
            );
            tally.status(done.status, 'complete');
          } catch (err) {
            if (!stopping) tally.network(err);
          }
        }
      }),
    );
    off();
    http.close();
    return { received, heartbeats, tally: tally.toJSON() };
  },

  /** Scenario 3: submits `count` one-run batches, one every `everyMs` (open loop). */
  async submitter({ url, count, everyMs, namespace, repo }: Args) {
    const http = new JsonClient(url);
    const tally = new Tally();
    const sent: Array<{ id: string; sentAt: number; respAt: number }> = [];
    const t0 = wallMs() + 20;
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const due = t0 + i * everyMs - wallMs();
        if (due > 0) await sleep(due);
        const sentAt = wallMs();
        try {
          const res = await http.post('/api/runs', { namespace, script: 'true', repos: [repo] }, ADMIN_TOKEN);
          const respAt = wallMs();
          tally.status(res.status, 'submission');
          if (res.status === 201) sent.push({ id: res.body.runs[0], sentAt, respAt });
        } catch (err) {
          tally.network(err);
        }
      }),
    );
    http.close();
    return { sent, tally: tally.toJSON() };
  },

  /**
   * Scenario 4: every runner keeps one long poll open (`wait` seconds), starting spread over
   * `rampMs`, until told to stop. Reports when all have sent their first poll.
   */
  async fleet({ url, runners, wait, rampMs }: Args) {
    const http = new JsonClient(url);
    const tally = new Tally();
    let heartbeats = 0;
    const answeredAt: number[] = [];
    let runsSeen = 0;
    let started = 0;
    let slowest = 0;
    const list = runners as Runner[];
    const off = onStop(() => http.agent.destroy());
    await Promise.all(
      list.map(async (r, i) => {
        await sleep((rampMs * i) / Math.max(1, list.length));
        if (++started === list.length) process.send?.({ type: 'progress', what: 'fleet-started' });
        while (!stopping) {
          const t = wallMs();
          let hb;
          try {
            hb = await http.post('/api/runner/heartbeat', { id: r.id, status: 'ready', runs: [], wait }, r.token, (wait + 30) * 1000);
          } catch (err) {
            if (!stopping) {
              tally.network(err);
              await sleep(200);
            }
            continue;
          }
          if (stopping) break;
          slowest = Math.max(slowest, wallMs() - t);
          heartbeats++;
          answeredAt.push(wallMs());
          tally.status(hb.status, 'heartbeat');
          if (hb.body?.heartbeat?.run) runsSeen++;
          if (hb.status !== 200) await sleep(200);
        }
      }),
    );
    off();
    http.close();
    return { heartbeats, answeredAt: Float64Array.from(answeredAt), runsSeen, slowestMs: slowest, tally: tally.toJSON() };
  },

  /**
   * Scenario 5: each runner takes a run, acknowledges it, streams `chunkBytes` chunks for
   * `seconds`, then completes with logBytes.
   */
  async logs({ url, runners, chunkBytes, seconds }: Args) {
    const http = new JsonClient(url);
    const tally = new Tally();
    const chunks = ciLogChunks(16, chunkBytes, process.pid);
    let bytes = 0;
    let chunksSent = 0;
    let firstAt = Infinity;
    let lastAt = 0;
    /** When the last runner had its first chunk stored (how long the start took). */
    let lastFirstChunkAt = 0;
    const runIds: string[] = [];
    /** sha256 of every byte each run's log was acknowledged with, to compare with what the API serves. */
    const digests: Record<string, string> = {};
    const runs = await Promise.all(
      (runners as Runner[]).map(async (r) => {
        for (let i = 0; i < 100; i++) {
          const hb = await http.post('/api/runner/heartbeat', { id: r.id, status: 'ready', runs: [] }, r.token);
          tally.status(hb.status, 'heartbeat');
          if (hb.body?.heartbeat?.run) return hb.body.heartbeat.run;
          await sleep(20);
        }
        throw new Error('no run for a log runner');
      }),
    );
    const until = wallMs() + seconds * 1000;
    await Promise.all(
      (runners as Runner[]).map(async (r, i) => {
        const run = runs[i];
        runIds.push(run.id);
        const path = `/api/runner/runs/${run.id}/update`;
        let offset = 0;
        let n = 0;
        const digest = createHash('sha256');
        // A run with secrets (scenario 7): the chunks go through the runner's own masker first.
        const masker = Array.isArray(run.masked) && run.masked.length > 0 ? newMasker(run.masked.map((n: string) => run.env[n])) : undefined;
        const ack = await http.post(path, { messageId: run.messageId, offset: 0, logs: '' }, r.token);
        tally.status(ack.status, 'update');
        firstAt = Math.min(firstAt, wallMs());
        while (wallMs() < until) {
          try {
            const chunk = masker ? masker.write(Buffer.from(chunks[n % chunks.length])).toString('utf8') : chunks[n % chunks.length];
            const res = await http.post(path, { messageId: run.messageId, offset, logs: chunk }, r.token);
            tally.status(res.status, 'update');
            if (res.status === 200 && res.body.offset === offset + Buffer.byteLength(chunk)) {
              if (n === 0) lastFirstChunkAt = Math.max(lastFirstChunkAt, wallMs());
              n++;
              digest.update(chunk);
              bytes += res.body.offset - offset;
              offset = res.body.offset;
              chunksSent++;
              lastAt = wallMs();
            }
          } catch (err) {
            tally.network(err);
          }
        }
        const rest = masker?.end().toString('utf8') ?? '';
        if (rest !== '') {
          const res = await http.post(path, { messageId: run.messageId, offset, logs: rest }, r.token);
          tally.status(res.status, 'update');
          if (res.status === 200) {
            digest.update(rest);
            bytes += res.body.offset - offset;
            offset = res.body.offset;
          }
        }
        digests[run.id] = digest.digest('hex');
        const done = await http.post(
          `/api/runner/complete/${r.id}/${run.project}`,
          { messageId: run.messageId, result: { id: run.id, status: 'finished', exitCode: 0, logBytes: offset } },
          r.token,
        );
        tally.status(done.status, 'complete');
      }),
    );
    http.close();
    return { bytes, chunks: chunksSent, firstAt, lastAt, lastFirstChunkAt, runIds, digests, tally: tally.toJSON() };
  },

  /** Reference for 2: plain pg workers, each its own connection: claim (SKIP LOCKED) + done. */
  async pgloop({ dbUrl, workers }: Args) {
    const received: number[] = [];
    let firstAt = Infinity;
    let lastAt = 0;
    const clients = await connectClients(dbUrl, workers);
    await Promise.all(
      clients.map(async (c, w) => {
        let empty = 0;
        while (empty < 2) {
          firstAt = Math.min(firstAt, wallMs());
          const claimed = await c.query(
            `UPDATE bench_job SET state = 'running', worker = $1, claimed_at = now()
             WHERE id = (SELECT id FROM bench_job WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id`,
            [w],
          );
          if (claimed.rowCount === 0) {
            empty++;
            await sleep(10);
            continue;
          }
          empty = 0;
          const id = Number(claimed.rows[0].id);
          received.push(id);
          await c.query(`UPDATE bench_job SET state = 'done', done_at = now() WHERE id = $1`, [id]);
          lastAt = Math.max(lastAt, wallMs());
        }
      }),
    );
    await Promise.all(clients.map((c) => c.end()));
    return { received, firstAt, lastAt };
  },

  /** Reference for 2: graphile-worker with `concurrency`, a no-op task, until stopped. */
  async graphile({ dbUrl, concurrency }: Args) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const gw = require('graphile-worker') as typeof import('graphile-worker');
    const silent = new gw.Logger(() => () => undefined);
    const seen: string[] = [];
    let firstAt = Infinity;
    let lastAt = 0;
    let failures = 0;
    const runner = await gw.run({
      connectionString: dbUrl,
      concurrency,
      maxPoolSize: Math.max(10, concurrency + 2),
      noHandleSignals: true,
      pollInterval: 100,
      logger: silent,
      taskList: {
        bench: async (_payload, helpers) => {
          firstAt = Math.min(firstAt, wallMs());
          seen.push(helpers.job.id);
        },
      },
    });
    runner.events.on('job:success', () => {
      lastAt = Math.max(lastAt, wallMs());
    });
    runner.events.on('job:error', () => failures++);
    await new Promise<void>((resolve) => onStop(resolve));
    await runner.stop();
    return { received: seen, firstAt, lastAt, failures };
  },

  /** Reference for 5: plain pg writers inserting `chunkBytes` bytea chunks for `seconds`. */
  async pglogs({ dbUrl, writers, chunkBytes, seconds }: Args) {
    const chunks = ciLogChunks(16, chunkBytes, process.pid).map((c) => Buffer.from(c));
    let bytes = 0;
    let firstAt = Infinity;
    let lastAt = 0;
    const until = wallMs() + seconds * 1000;
    const clients = await connectClients(dbUrl, writers);
    await Promise.all(
      clients.map(async (c, w) => {
        let pos = 0;
        let n = 0;
        firstAt = Math.min(firstAt, wallMs());
        while (wallMs() < until) {
          const data = chunks[n++ % chunks.length];
          await c.query(`INSERT INTO bench_log_chunk (stream, pos, data) VALUES ($1, $2, $3)`, [`${process.pid}-${w}`, pos, data]);
          pos += data.length;
          bytes += data.length;
          lastAt = wallMs();
        }
      }),
    );
    await Promise.all(clients.map((c) => c.end()));
    return { bytes, firstAt, lastAt };
  },

  /** Reference for 3: a LISTENing client records when each notification arrives, until stopped. */
  async notifyListen({ dbUrl }: Args) {
    const c = new Client({ connectionString: dbUrl });
    await c.connect();
    const received: Array<{ id: string; at: number }> = [];
    c.on('notification', (msg) => received.push({ id: msg.payload ?? '', at: wallMs() }));
    await c.query('LISTEN bench_work');
    process.send?.({ type: 'progress', what: 'listening' });
    await new Promise<void>((resolve) => onStop(resolve));
    await c.end();
    return { received };
  },

  /** Reference for 3: inserts a job and notifies in one statement, one every `everyMs`. */
  async notifySubmit({ dbUrl, count, everyMs }: Args) {
    const pool = await connectClients(dbUrl, 4);
    const free = [...pool];
    const waiting: Array<(c: Client) => void> = [];
    const take = (): Promise<Client> => (free.length ? Promise.resolve(free.pop() as Client) : new Promise((r) => waiting.push(r)));
    const give = (c: Client): void => {
      const w = waiting.shift();
      if (w) w(c);
      else free.push(c);
    };
    const sent: Array<{ id: string; sentAt: number; respAt: number }> = [];
    const t0 = wallMs() + 20;
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const due = t0 + i * everyMs - wallMs();
        if (due > 0) await sleep(due);
        const sentAt = wallMs();
        const c = await take();
        const res = await c.query(
          `WITH j AS (INSERT INTO bench_job (state) VALUES ('queued') RETURNING id)
           SELECT j.id, pg_notify('bench_work', j.id::text) FROM j`,
        );
        give(c);
        sent.push({ id: String(res.rows[0].id), sentAt, respAt: wallMs() });
      }),
    );
    await Promise.all(pool.map((c) => c.end()));
    return { sent };
  },
};

process.on('message', (msg: { type: string; id?: number; task?: string; args?: Args }) => {
  if (msg.type === 'stop') {
    stopping = true;
    for (const fn of [...stopHooks]) fn();
    return;
  }
  if (msg.type === 'reset') {
    stopping = false;
    return;
  }
  if (msg.type !== 'task' || !msg.task) return;
  const task = tasks[msg.task];
  const reply = (body: Record<string, unknown>): void => {
    process.send?.({ type: 'result', id: msg.id, ...body });
  };
  if (!task) {
    reply({ error: `unknown task ${msg.task}` });
    return;
  }
  task(msg.args ?? {}).then(
    (result) => reply({ result }),
    (err: unknown) => reply({ error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) }),
  );
});

process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'hello' });
