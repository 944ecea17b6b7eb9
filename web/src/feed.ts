/**
 * The tab's one connection to `GET /api/events` (SPEC 8), shared by every page.
 *
 * - Read with fetch() streaming so the token travels in the Authorization header (EventSource
 *   cannot send one, and a token must never be in a URL).
 * - Resumes with `?after=<last id>` after any break: the server replays what was missed, nothing
 *   twice. Backoff between attempts grows to 30 s, with jitter.
 * - 401 signs the tab out; `event: resync` (the tab was away longer than the server keeps events)
 *   tells every page to reload its lists.
 * - Closed while the tab is hidden, resumed from the last id when it is visible again.
 * - Pages subscribe with the `event_cursor` of the list they loaded: events they already hold
 *   are skipped, recent events they missed while loading are replayed from a small ring.
 */
import { authHeaders } from './api';
import type { RunSummary, RunnerSummary } from './api-types';
import { signOut, token } from './auth';
import { SseParser, type SseFrame } from './sse';

export interface RunEvent extends RunSummary {
  namespace: string;
  pending_reason: string | null;
}
export interface BatchEvent {
  batch_id: string;
  namespace: string;
  created_at: string;
  runs: number;
  counts: Record<string, number>;
  done: boolean;
}
export interface RunnerEvent extends RunnerSummary {
  deregistered: boolean;
}
export interface NamespaceEvent {
  namespace_name: string;
  repositories?: string[];
  deleted?: boolean;
}

/** An instance's fields on every change of its status, description, runner or desired state (SPEC 10). */
export interface InstanceEvent {
  id: string;
  name: string;
  status: string;
  state: string;
  description: string;
  runner_id: string | null;
  workload_id: string | null;
  ip: string | null;
  ports: string[];
  restarts: number;
  pending_reason: string | null;
  updated_at: string;
}

export type FeedEvent =
  | { id: string; kind: 'run'; data: RunEvent }
  | { id: string; kind: 'batch'; data: BatchEvent }
  | { id: string; kind: 'runner'; data: RunnerEvent }
  | { id: string; kind: 'namespace'; data: NamespaceEvent }
  | { id: string; kind: 'instance'; data: InstanceEvent }
  | { id: string; kind: 'resync'; data: Record<string, never> }
  | { id: string; kind: string; data: unknown };

/**
 * connecting: first attempt; live: the stream is open; reconnecting: waiting to try again;
 * paused: the tab is hidden; unavailable: this server has no feed (pages poll instead).
 */
export type FeedStatus = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'paused' | 'unavailable';

type Listener = (event: FeedEvent) => void;
interface Subscription {
  listener: Listener;
  /** Events with an id at or below this are already in the subscriber's snapshot. */
  since: bigint | null;
}

const RING = 2000;

function toId(id: string | number | undefined | null): bigint | null {
  if (typeof id === 'number') return Number.isSafeInteger(id) && id >= 0 ? BigInt(id) : null;
  if (!id || !/^\d+$/.test(id)) return null;
  return BigInt(id);
}

/** Backoff before attempt `n` (0-based): 0.5 s doubling to 30 s, times 0.5–1 jitter. */
export function backoff(n: number, random: () => number = Math.random): number {
  const base = Math.min(30000, 500 * 2 ** Math.min(n, 10));
  return Math.round(base * (0.5 + random() / 2));
}

/** Turns a parsed frame into a feed event (JSON data; a frame that is not JSON is skipped). */
export function toEvent(frame: SseFrame): FeedEvent | undefined {
  let data: unknown;
  try {
    data = frame.data === '' ? {} : JSON.parse(frame.data);
  } catch {
    return undefined;
  }
  return { id: frame.id ?? '', kind: frame.event, data };
}

export interface FeedOptions {
  url?: string;
  fetch?: typeof fetch;
  /** Visibility source (tests pass their own). */
  document?: Pick<Document, 'visibilityState' | 'addEventListener'> | null;
  random?: () => number;
  /** Whether the tab is signed in (default: a token in sessionStorage). */
  signedIn?: () => boolean;
}

export class Feed {
  private readonly subs = new Set<Subscription>();
  private readonly statusListeners = new Set<(s: FeedStatus) => void>();
  private readonly ring: FeedEvent[] = [];
  private lastId: bigint | null = null;
  private running = false;
  private abort: AbortController | null = null;
  private wake: (() => void) | null = null;
  private attempt = 0;
  /** Bumped by every start and stop: a loop from an earlier start ends instead of running twice. */
  private generation = 0;
  status: FeedStatus = 'idle';
  private readonly url: string;
  private readonly fetcher: typeof fetch;
  private readonly doc: FeedOptions['document'];
  private readonly random: () => number;
  private readonly signedIn: () => boolean;

  constructor(options: FeedOptions = {}) {
    this.url = options.url ?? '/api/events';
    this.fetcher = options.fetch ?? ((...args) => fetch(...args));
    this.doc = options.document === undefined ? (typeof document === 'undefined' ? null : document) : options.document;
    this.random = options.random ?? Math.random;
    this.signedIn = options.signedIn ?? (() => token() !== null);
    this.doc?.addEventListener('visibilitychange', () => this.onVisibility());
  }

  /** The id a reconnect resumes after. */
  get cursor(): string | null {
    return this.lastId === null ? null : this.lastId.toString();
  }

  onStatus(listener: (s: FeedStatus) => void): () => void {
    this.statusListeners.add(listener);
    listener(this.status);
    return () => this.statusListeners.delete(listener);
  }

  /**
   * Receive every event after `since` (the `event_cursor` of the snapshot the page holds; none:
   * from now on). The connection opens with the first subscriber and closes with the last.
   */
  subscribe(listener: Listener, since?: string | number | null): () => void {
    const sub: Subscription = { listener, since: toId(since) };
    this.subs.add(sub);
    if (sub.since !== null) {
      if (this.lastId === null && !this.running) {
        this.lastId = sub.since; // the connection starts where the snapshot ends
      } else if (this.lastId !== null && this.lastId > sub.since) {
        const oldest = this.ring.length ? toId(this.ring[0].id) : null;
        if (oldest === null || oldest > sub.since + 1n) {
          // What happened between the snapshot and now is no longer in the ring: reload.
          queueMicrotask(() => this.subs.has(sub) && listener({ id: '', kind: 'resync', data: {} }));
        } else {
          const missed = this.ring.filter((e) => (toId(e.id) ?? 0n) > sub.since!);
          queueMicrotask(() => missed.forEach((e) => this.subs.has(sub) && listener(e)));
        }
      }
    }
    this.start();
    return () => {
      this.subs.delete(sub);
      if (this.subs.size === 0) this.stop();
    };
  }

  /** Stops the connection (sign-out). A later subscribe starts afresh. */
  reset(): void {
    this.stop();
    this.lastId = null;
    this.ring.length = 0;
  }

  private setStatus(s: FeedStatus): void {
    if (this.status === s) return;
    this.status = s;
    this.statusListeners.forEach((l) => l(s));
  }

  private hidden(): boolean {
    return this.doc?.visibilityState === 'hidden';
  }

  private start(): void {
    if (this.running || this.subs.size === 0 || !this.signedIn()) return;
    if (this.hidden()) {
      this.setStatus('paused');
      return;
    }
    this.running = true;
    void this.loop(++this.generation);
  }

  private stop(): void {
    this.running = false;
    this.generation++;
    this.abort?.abort();
    this.wake?.();
    this.setStatus('idle');
  }

  private onVisibility(): void {
    if (this.hidden()) {
      if (this.running) {
        this.stop();
        this.setStatus('paused');
      }
    } else if (this.subs.size > 0) {
      this.attempt = 0;
      this.start();
    }
  }

  /** Delivers one frame: remembers its id, keeps it in the ring, hands it to the subscribers. */
  deliver(frame: SseFrame): void {
    const event = toEvent(frame);
    if (!event) return;
    if (event.kind === 'resync') {
      this.ring.length = 0;
      const at = toId(event.id);
      if (at !== null) this.lastId = at;
      this.subs.forEach((s) => s.listener(event));
      return;
    }
    const id = toId(event.id);
    if (id !== null) {
      if (this.lastId !== null && id <= this.lastId) return; // never twice
      this.lastId = id;
      this.ring.push(event);
      if (this.ring.length > RING) this.ring.splice(0, this.ring.length - RING);
    }
    for (const s of [...this.subs]) {
      if (id !== null && s.since !== null && id <= s.since) continue;
      s.listener(event);
    }
  }

  private async loop(generation: number): Promise<void> {
    const wanted = (): boolean => this.running && this.generation === generation;
    while (wanted()) {
      const controller = new AbortController();
      this.abort = controller;
      let unavailable = false;
      this.setStatus(this.attempt === 0 && this.status !== 'reconnecting' ? 'connecting' : 'reconnecting');
      try {
        const after = this.cursor;
        const res = await this.fetcher(after === null ? this.url : `${this.url}?after=${after}`, {
          headers: authHeaders({ Accept: 'text/event-stream', ...(after !== null && { 'Last-Event-ID': after }) }),
          signal: controller.signal,
          cache: 'no-store',
        });
        if (res.status === 401) {
          signOut('The orchestrator refused this token. Sign in again.');
          this.reset();
          return;
        }
        if (!res.ok || !res.body || !(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
          unavailable = res.status === 404;
          await res.body?.cancel().catch(() => undefined);
          throw new Error(`feed answered ${res.status}`);
        }
        this.setStatus('live');
        this.attempt = 0;
        if (after === null) {
          // Started at "now" with no snapshot cursor: whatever a page loaded before this moment
          // may be older than the stream, so every page reloads once.
          this.subs.forEach((s) => s.listener({ id: '', kind: 'resync', data: {} }));
        }
        const parser = new SseParser();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (!wanted()) break;
          for (const frame of parser.push(value)) this.deliver(frame);
        }
      } catch {
        // network error, abort, or a refused stream: retried below while still wanted
      }
      if (!wanted()) return;
      this.setStatus(unavailable ? 'unavailable' : 'reconnecting');
      const delay = unavailable ? 30000 : backoff(this.attempt++, this.random);
      await new Promise<void>((done) => {
        const timer = setTimeout(done, delay);
        this.wake = () => {
          clearTimeout(timer);
          done();
        };
      });
      this.wake = null;
    }
  }
}

/** The tab's feed. */
export const feed = new Feed();
