import { Feed, backoff, type FeedEvent } from './feed';

interface Call {
  url: string;
  headers: Record<string, string>;
}

/** A response whose body sends `chunks`, then ends (a dropped connection) or stays open until aborted. */
function sse(chunks: string[], signal: AbortSignal, stayOpen = false): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
      if (!stayOpen) controller.close();
      else signal.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}

function frame(id: number, kind: string, data: object): string {
  return `id: ${id}\nevent: ${kind}\ndata: ${JSON.stringify(data)}\n\n`;
}

function fakeFetch(answers: Array<(signal: AbortSignal) => Response>): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fn = (async (input: string, init?: RequestInit) => {
    calls.push({ url: input, headers: init?.headers as Record<string, string> });
    const answer = answers.shift();
    if (!answer) return new Promise<Response>(() => undefined); // never answers
    return answer(init!.signal!);
  }) as unknown as typeof fetch;
  return { fetch: fn, calls };
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const base = { document: null, random: () => 0, signedIn: () => true };

describe('Feed', () => {
  it('resumes after a dropped stream with ?after= and Last-Event-ID, and delivers each event once', async () => {
    const { fetch, calls } = fakeFetch([
      (s) => sse([frame(1, 'run', { id: 'a' }), frame(2, 'batch', { batch_id: 'b' }), 'id: 3\nevent: run\ndata: {"id":"c"}\n'], s),
      // The server replays from 2 (the 3rd frame never completed): 3 once, 2 not again.
      (s) => sse([frame(2, 'batch', { batch_id: 'b' }), frame(3, 'run', { id: 'c' }), frame(4, 'runner', { runner_id: 'r' })], s, true),
    ]);
    const feed = new Feed({ ...base, fetch });
    const seen: FeedEvent[] = [];
    const stop = feed.subscribe((e) => seen.push(e));
    await until(() => seen.filter((e) => e.kind !== 'resync').length >= 4);
    expect(seen.filter((e) => e.kind !== 'resync').map((e) => e.id)).toEqual(['1', '2', '3', '4']);
    expect(calls[0].url).toBe('/api/events');
    expect(calls[1].url).toBe('/api/events?after=2');
    expect(calls[1].headers['Last-Event-ID']).toBe('2');
    expect(feed.cursor).toBe('4');
    expect(feed.status).toBe('live');
    stop();
    expect(feed.status).toBe('idle');
  });

  it('starts from a snapshot cursor and skips what the snapshot already holds', async () => {
    const { fetch, calls } = fakeFetch([(s) => sse([frame(10, 'run', {}), frame(11, 'run', {})], s, true)]);
    const feed = new Feed({ ...base, fetch });
    const seen: string[] = [];
    const stop = feed.subscribe((e) => seen.push(`${e.kind}:${e.id}`), 10);
    await until(() => seen.length >= 1);
    expect(calls[0].url).toBe('/api/events?after=10');
    expect(seen).toEqual(['run:11']);
    stop();
  });

  it('replays recent events to a late subscriber from its cursor, and tells it to reload past the ring', async () => {
    const { fetch } = fakeFetch([(s) => sse([frame(5, 'run', {}), frame(6, 'run', {}), frame(7, 'run', {})], s, true)]);
    const feed = new Feed({ ...base, fetch });
    const first: string[] = [];
    const stop1 = feed.subscribe((e) => first.push(e.id), 4);
    await until(() => first.length >= 3);
    const late: string[] = [];
    const stop2 = feed.subscribe((e) => late.push(e.id), 5);
    await until(() => late.length >= 2);
    expect(late).toEqual(['6', '7']);
    const tooOld: string[] = [];
    const stop3 = feed.subscribe((e) => tooOld.push(e.kind), 1);
    await until(() => tooOld.length >= 1);
    expect(tooOld).toEqual(['resync']);
    stop1();
    stop2();
    stop3();
  });

  it('passes a resync frame on to every subscriber', async () => {
    const { fetch } = fakeFetch([(s) => sse(['event: resync\ndata: {}\n\n', frame(50, 'run', {})], s, true)]);
    const feed = new Feed({ ...base, fetch });
    const seen: string[] = [];
    const stop = feed.subscribe((e) => seen.push(e.kind), 3);
    await until(() => seen.length >= 2);
    expect(seen).toEqual(['resync', 'run']);
    stop();
  });

  it('stops on 401 (the tab signs out) and reports a server without a feed as unavailable', async () => {
    const unauthorized = fakeFetch([() => new Response('{"statusCode":401}', { status: 401 })]);
    const feed = new Feed({ ...base, fetch: unauthorized.fetch });
    feed.subscribe(() => undefined);
    await until(() => feed.status === 'idle' && unauthorized.calls.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(unauthorized.calls.length).toBe(1);

    const missing = fakeFetch([() => new Response('{"statusCode":404}', { status: 404 })]);
    const old = new Feed({ ...base, fetch: missing.fetch });
    const stop = old.subscribe(() => undefined);
    await until(() => old.status === 'unavailable');
    stop();
  });

  it('closes while the tab is hidden and resumes from the last id when it is visible', async () => {
    const { fetch, calls } = fakeFetch([
      (s) => sse([frame(20, 'run', {}), frame(21, 'run', {})], s, true),
      (s) => sse([frame(22, 'run', {})], s, true),
    ]);
    let onVisibility: () => void = () => undefined;
    const doc = {
      visibilityState: 'visible' as DocumentVisibilityState,
      addEventListener: (_: string, fn: () => void) => (onVisibility = fn),
    } as unknown as Pick<Document, 'visibilityState' | 'addEventListener'>;
    const feed = new Feed({ ...base, fetch, document: doc });
    const seen: string[] = [];
    const stop = feed.subscribe((e) => seen.push(e.id), 19);
    await until(() => seen.length >= 2);
    (doc as { visibilityState: string }).visibilityState = 'hidden';
    onVisibility();
    expect(feed.status).toBe('paused');
    expect(calls.length).toBe(1);
    (doc as { visibilityState: string }).visibilityState = 'visible';
    onVisibility();
    await until(() => seen.length >= 3);
    expect(calls[1].url).toBe('/api/events?after=21');
    expect(seen).toEqual(['20', '21', '22']);
    stop();
  });

  it('backs off from 0.5 s up to 30 s with jitter', () => {
    expect(backoff(0, () => 1)).toBe(500);
    expect(backoff(1, () => 1)).toBe(1000);
    expect(backoff(20, () => 1)).toBe(30000);
    expect(backoff(20, () => 0)).toBe(15000);
  });
});
