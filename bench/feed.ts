/* eslint-disable @typescript-eslint/no-explicit-any -- a bench harness: untyped JSON bodies and IPC messages */
import * as http from 'node:http';
import { JsonClient } from './lib/http';
import type { LoadPool } from './lib/load';
import { createDatabase } from './lib/pg';
import { sampleProcess } from './lib/procstat';
import { ADMIN_TOKEN, ORCHESTRATOR_MAIN, orchestratorEnv, spawnServer } from './lib/server';
import { chunks, percentile, sleep, split, wallMs } from './lib/util';
import type { Ctx, Runner, Scenario } from './scenarios';

/**
 * 7. The live feed (GET /api/events, issue 10):
 * - the dispatch cycle with 3 feed readers connected vs none (target ≥ 0.9×): the readers must
 *   not slow dispatch (events are written by triggers either way; readers add the sequencer's
 *   live steps and the tail reads);
 * - the time from a state change (a namespace replaced) to its event at a connected reader,
 *   measured from the moment the request is sent (target p99 ≤ 50 ms);
 * - many readers on one process (200 in full and quick runs): every one gets every event, no
 *   errors, and what they cost in resident memory.
 */
const NAMESPACE = 'bench';
const REPO = 'https://example.com/bench.git';

/** A feed connection that counts frames and remembers when each event id arrived. */
class FeedReader {
  frames = 0;
  errors = 0;
  readonly arrived = new Map<string, number>();
  readonly ids: number[] = [];
  private buffer = '';
  private req: http.ClientRequest | undefined;
  private readonly watchers = new Set<() => void>();

  static open(url: string, query = ''): Promise<FeedReader> {
    const r = new FeedReader();
    return new Promise((resolve, reject) => {
      const req = http.get(`${url}/api/events${query}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: 'text/event-stream' } }, (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`GET /api/events answered ${res.statusCode}`));
          res.resume();
          return;
        }
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => r.feed(chunk));
        res.on('error', () => r.errors++);
        resolve(r);
      });
      req.on('error', (err) => {
        r.errors++;
        reject(err);
      });
      r.req = req;
    });
  }

  private feed(chunk: string): void {
    this.buffer += chunk;
    let i: number;
    while ((i = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 2);
      if (block.startsWith(':')) continue;
      this.frames++;
      const id = /^id: (\d+)$/m.exec(block)?.[1];
      if (id) this.ids.push(Number(id));
      const marker = /"repositories": \["(mark-[^"]+)"/.exec(block)?.[1];
      if (marker) this.arrived.set(marker, wallMs());
    }
    for (const w of [...this.watchers]) w();
  }

  waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
    if (check()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.watchers.delete(watch);
        resolve(false);
      }, timeoutMs);
      const watch = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.watchers.delete(watch);
        resolve(true);
      };
      this.watchers.add(watch);
    });
  }

  close(): void {
    this.req?.destroy();
  }
}

async function drainOnce(pool: LoadPool, url: string, runners: Runner[], maxSeconds: number): Promise<{ rate: number; received: number; errors: number }> {
  const deadline = wallMs() + maxSeconds * 1000;
  const parts = await pool.all('dispatch', (i) => ({ url, runners: chunks(runners, pool.size)[i], deadline }));
  const received = parts.reduce((a: number, p: any) => a + (p.received as string[]).length, 0);
  const first = Math.min(...parts.map((p: any) => p.firstAt as number));
  const last = Math.max(...parts.map((p: any) => p.lastAt as number));
  const errors = parts.reduce((a: number, p: any) => a + (p.tally.errors as number), 0);
  return { rate: received / ((last - first) / 1000), received, errors };
}

export async function liveFeed(ctx: Ctx, s: Scenario): Promise<void> {
  const { runs, runners: count, maxSeconds } = ctx.scale.dispatch;
  const readersMany = ctx.scale.mode === 'tiny' ? 20 : 200;
  const changes = ctx.scale.pickup.runs;
  try {
    const db = await createDatabase('s7');
    s.defer(() => db.drop());
    const orch = await spawnServer(ORCHESTRATOR_MAIN, orchestratorEnv(db.url));
    s.defer(() => orch.stop());
    const api = new JsonClient(orch.url);
    s.defer(async () => api.close());
    const pool = await ctx.load(ctx.scale.loadProcs);
    const parts = await Promise.all(split(count, pool.size).map((n, i) => pool.run(i, 'register', { url: orch.url, count: n })));
    const runners = parts.flatMap((p: any) => p.runners as Runner[]);
    s.check('every runner registered', runners.length === count, `${runners.length} of ${count}`);
    await api.request('PUT', '/api/namespaces', { namespace_name: NAMESPACE, repositories: [REPO] }, ADMIN_TOKEN);

    // -- dispatch with 3 readers vs none: none, readers, none (the two "none" rounds averaged).
    const round = async (readers: number): Promise<{ rate: number; received: number; errors: number; frames: number }> => {
      const open = await Promise.all(Array.from({ length: readers }, () => FeedReader.open(orch.url)));
      const res = await api.post('/api/runs', { namespace: NAMESPACE, script: 'true', jobs: Array.from({ length: runs }, () => ({ repo: REPO })) }, ADMIN_TOKEN);
      if (res.status !== 201) throw new Error(`POST /api/runs answered ${res.status}`);
      const d = await drainOnce(pool, orch.url, runners, maxSeconds);
      // Every dispatch and every finish reaches each reader: 2 run events per run drained.
      for (const r of open) await r.waitFor(() => r.frames >= 2 * d.received, 10000);
      const frames = Math.min(...open.map((r) => r.frames), Infinity);
      for (const r of open) r.close();
      // What was not drained (a capped round) is canceled, so the next round starts empty.
      await api.request('DELETE', `/api/batches/${res.body.batch_id}`, undefined, ADMIN_TOKEN);
      return { ...d, frames: Number.isFinite(frames) ? frames : 0 };
    };
    ctx.progress(`dispatch of ${runs} runs: no reader, 3 readers, no reader`);
    const none1 = await round(0);
    const three = await round(3);
    const none2 = await round(0);
    const none = (none1.rate + none2.rate) / 2;
    s.check('no error responses while draining', none1.errors + three.errors + none2.errors === 0, `${none1.errors + three.errors + none2.errors} errors`);
    s.check('each reader got a run event per dispatch and per finish', three.frames >= 2 * three.received, `${three.frames} frames for ${three.received} runs drained`);
    s.row({ metric: 'runs/s drained, 3 feed readers connected', unit: 'runs/s', ours: three.rate, reference: none, referenceName: 'no reader (mean of a round before and after)', target: '≥ 0.9× ref', check: (o, r) => r !== null && o >= 0.9 * r });

    // -- latency: a namespace replaced → its event at a connected reader.
    ctx.progress(`${changes} state changes → event at a reader`);
    const reader = await FeedReader.open(orch.url, '?kinds=namespace');
    const lat: number[] = [];
    let lost = 0;
    for (let i = 0; i < changes; i++) {
      const marker = `mark-${i}`;
      const sent = wallMs();
      await api.request('PUT', '/api/namespaces', { namespace_name: 'feed-latency', repositories: [marker] }, ADMIN_TOKEN);
      if (await reader.waitFor(() => reader.arrived.has(marker), 5000)) lat.push(reader.arrived.get(marker)! - sent);
      else lost++;
      await sleep(ctx.scale.pickup.everyMs);
    }
    reader.close();
    s.check('every change reached the reader', lost === 0, `${lat.length} of ${changes}`);
    s.row({ metric: 'state change → event at a reader, p50', unit: 'ms', ours: percentile(lat, 50), reference: null, referenceName: 'from sending the request', target: '—' });
    s.row({ metric: 'state change → event at a reader, p99', unit: 'ms', ours: percentile(lat, 99), reference: null, referenceName: 'from sending the request', target: '≤ 50 ms', check: (o) => o <= 50 });

    // -- many readers on one process.
    ctx.progress(`${readersMany} feed readers on one process`);
    const before = sampleProcess(orch.pid)?.rssBytes ?? 0;
    const many: FeedReader[] = [];
    let refused = 0;
    for (const group of chunks(Array.from({ length: readersMany }, (_, i) => i), Math.ceil(readersMany / 50))) {
      const opened = await Promise.allSettled(group.map(() => FeedReader.open(orch.url)));
      for (const o of opened) {
        if (o.status === 'fulfilled') many.push(o.value);
        else refused++;
      }
    }
    const metrics = await api.request('GET', '/metrics');
    const gauge = Number(/^pulse_feed_readers (\d+)/m.exec(String(metrics.body))?.[1] ?? NaN);
    const events = 50;
    for (let i = 0; i < events; i++) {
      await api.request('PUT', '/api/namespaces', { namespace_name: `feed-many-${i % 5}`, repositories: [`r${i}`] }, ADMIN_TOKEN);
    }
    const complete = await Promise.all(many.map((r) => r.waitFor(() => r.frames >= events, 30000)));
    const after = sampleProcess(orch.pid)?.rssBytes ?? 0;
    const errors = many.reduce((a, r) => a + r.errors, 0) + refused;
    const inOrder = many.every((r) => r.ids.every((id, i) => i === 0 || id === r.ids[i - 1] + 1));
    for (const r of many) r.close();
    s.check(`${readersMany} readers connected, counted by pulse_feed_readers`, many.length === readersMany && gauge === readersMany, `${many.length} open, gauge ${gauge}`);
    s.check('every reader got every event, in order, once', complete.every(Boolean) && inOrder, `${complete.filter(Boolean).length} of ${many.length} complete`);
    s.check('no errors with many readers', errors === 0, `${errors} errors`);
    s.row({ metric: `orchestrator RSS with ${readersMany} readers`, unit: 'MiB', ours: after / 2 ** 20, reference: before / 2 ** 20, referenceName: 'before they connected', target: '—' });
    s.raw.dispatch = { none1, three, none2 };
    s.raw.latencyMs = { p50: percentile(lat, 50), p99: percentile(lat, 99), max: Math.max(...lat) };
    s.raw.many = { readers: readersMany, rssBefore: before, rssAfter: after, errors };
  } finally {
    await s.cleanup();
  }
}
