import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { InvalidInput, Unavailable } from '../common/errors';
import { sseFrame, SseStream } from '../common/sse';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { WorkSignal } from '../database/work-signal';
import { EventFilter, FeedEvent, matches } from './event.dto';
import { EventStore } from './event.store';

/** How often the sequencer runs while this process has readers (state change → reader latency). */
const LIVE_MS = 25;
/** How often it runs anyway: the safety net for missed notifications, and pruning. */
const IDLE_MS = 1000;
/** Events numbered per sequencer step, and read per page. */
const STEP = 1000;
const PAGE = 500;
/** Recent events kept in memory for the readers of this process. */
const TAIL_MAX = 20000;
/** A reader that does not take what it was sent within this long is disconnected. */
const DRAIN_TIMEOUT_MS = 10000;

/**
 * The live feed of one process (SPEC section 8, docs/events.md).
 *
 * - Sequencer: triggers write events with no id, in the transaction of the change; the
 *   sequencer (pulse_sequence_events, one advisory-locked statement) numbers the committed ones
 *   in commit order. It runs every LIVE_MS while this process has readers, and every IDLE_MS
 *   anyway; any process may run it, they take turns.
 * - Tail: the process reads newly numbered events once (woken by its own sequencer, by the NOTIFY
 *   of another process's sequencer, or by the next step that finds the head moved) and keeps
 *   the recent ones in memory; every reader that is caught up is served from there.
 * - Readers behind the tail (replaying history) read pages from the database until they catch up.
 * Every read is by id (`> position`), and ids become visible in order, so a reader never skips one.
 */
@Injectable()
export class EventFeed implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('EventFeed');
  private readonly streams = new Set<SseStream>();
  /** Resolved when the tail moves (or on shutdown). */
  private readonly waiters = new Set<() => void>();
  /** Events after `tailFrom - 1`, up to `tailHead`, in id order. */
  private tail: FeedEvent[] = [];
  private tailHead = -1;
  private tailFrom = 0;
  private fetching: Promise<void> | undefined;
  private fetchAgain = false;
  private sequencing: Promise<void> | undefined;
  private liveTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastPrune = 0;
  private closing = false;
  /** Changes when the tail is dropped (no reader left): a read still under way then keeps nothing. */
  private generation = 0;

  constructor(
    private readonly store: EventStore,
    private readonly signal: WorkSignal,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.signal.onEventsSequenced(() => this.refresh());
    this.idleTimer = setInterval(() => this.sequence(), IDLE_MS);
    this.idleTimer.unref();
  }

  /** Readers connected to this process (for metrics). */
  get readers(): number {
    return this.streams.size;
  }

  /**
   * Serves one reader: validates the resume point first (a bad Last-Event-ID is a JSON 400),
   * then takes over the response and streams until the client leaves or the app closes.
   */
  async serve(reply: FastifyReply, after: number | undefined, lastEventId: string | undefined, filter: EventFilter): Promise<void> {
    let from = after;
    if (lastEventId !== undefined && lastEventId.trim() !== '') {
      if (!/^\d{1,15}$/.test(lastEventId.trim())) throw new InvalidInput('Last-Event-ID must be an event id (a whole number)');
      from = Number(lastEventId.trim());
    }
    if (this.closing) throw new Unavailable('the server is shutting down: connect again');
    const head = await this.store.head();
    const stream = new SseStream({ keepAliveMs: this.config.eventsKeepAlive * 1000, drainTimeoutMs: DRAIN_TIMEOUT_MS });
    stream.open(reply);
    this.streams.add(stream);
    this.startLive();
    try {
      let pos = from ?? head;
      if (from !== undefined && from > head) {
        // An id this database never gave out (another installation, a reset): start over.
        pos = head;
        await stream.send(sseFrame('resync', '{}', head));
      }
      await this.pump(stream, pos, filter);
    } catch (err) {
      if (!stream.closed.aborted) this.logger.warn(`feed reader closed: ${(err as Error).message}`);
    } finally {
      this.streams.delete(stream);
      stream.end();
      if (this.streams.size === 0) this.stopLive();
    }
  }

  private async pump(stream: SseStream, start: number, filter: EventFilter): Promise<void> {
    let pos = start;
    while (!stream.closed.aborted) {
      if (this.tailHead >= 0 && pos + 1 >= this.tailFrom && pos < this.tailHead) {
        // Caught up: from the shared tail.
        const i = this.indexAfter(pos);
        const upTo = this.tailHead;
        const events = this.tail.slice(i);
        const text = events.filter((e) => matches(filter, e)).map((e) => sseFrame(e.kind, e.data, e.seq)).join('');
        if (text && !(await stream.send(text))) return;
        pos = upTo;
        continue;
      }
      if (this.tailHead < 0 || pos + 1 < this.tailFrom) {
        // Behind the tail (or no tail yet): a page of history from the database.
        const page = await this.store.history(pos, filter, PAGE);
        if (page.head > pos && (page.oldest === null || page.oldest > pos + 1)) {
          // Events after `pos` were pruned (EVENTS_RETENTION): the client reloads its lists.
          if (!(await stream.send(sseFrame('resync', '{}', page.head)))) return;
          pos = page.head;
          continue;
        }
        if (page.events.length > 0) {
          const text = page.events.map((e) => sseFrame(e.kind, e.data, e.seq)).join('');
          if (!(await stream.send(text))) return;
        }
        const nextPos = page.events.length < PAGE ? page.head : page.events[page.events.length - 1].seq;
        if (nextPos > pos) {
          pos = nextPos;
          continue;
        }
        if (this.tailHead < 0) this.refresh();
      }
      await this.waitForTail(pos, stream.closed);
    }
  }

  /** Index in `tail` of the first event after `pos`. */
  private indexAfter(pos: number): number {
    let lo = 0;
    let hi = this.tail.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.tail[mid].seq <= pos) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private waitForTail(pos: number, closed: AbortSignal): Promise<void> {
    if (this.tailHead > pos || closed.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.waiters.delete(done);
        closed.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      closed.addEventListener('abort', done, { once: true });
    });
  }

  /** Reads what was numbered since the tail's head (coalesced: one read at a time, plus one rerun). */
  private refresh(): void {
    if (this.streams.size === 0) return;
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    this.fetching = this.fetchTail()
      .catch((err: unknown) => this.logger.warn(`cannot read new events: ${(err as Error).message}`))
      .finally(() => {
        this.fetching = undefined;
        if (this.fetchAgain) {
          this.fetchAgain = false;
          this.refresh();
        }
      });
  }

  private async fetchTail(): Promise<void> {
    const generation = this.generation;
    if (this.tailHead < 0) {
      const head = await this.store.head();
      if (generation !== this.generation) return;
      this.tail = [];
      this.tailHead = head;
      this.tailFrom = head + 1;
      // Readers that read the history below this head carry on from the database now.
      this.wakeReaders();
    }
    for (;;) {
      const events = await this.store.after(this.tailHead, STEP);
      if (generation !== this.generation || events.length === 0) break;
      if (events[0].seq !== this.tailHead + 1) {
        // Only pruning makes a hole, and only far behind: start the tail over from here.
        this.tail = [];
        this.tailFrom = events[0].seq;
      }
      this.tail.push(...events);
      this.tailHead = events[events.length - 1].seq;
      if (this.tail.length > TAIL_MAX) {
        this.tail = this.tail.slice(this.tail.length - TAIL_MAX);
        this.tailFrom = this.tail[0].seq;
      }
      this.wakeReaders();
      if (events.length < STEP) break;
    }
  }

  private wakeReaders(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Runs the sequencer (one at a time in this process); reads the tail when the head moved. */
  private sequence(): void {
    if (this.sequencing || this.closing) return;
    this.sequencing = this.sequenceOnce()
      .catch((err: unknown) => this.logger.warn(`event sequencer: ${(err as Error).message}`))
      .finally(() => (this.sequencing = undefined));
  }

  private async sequenceOnce(): Promise<void> {
    for (;;) {
      const { numbered, head } = await this.store.sequence(STEP);
      // Numbered here, or by another process whose NOTIFY did not reach us (yet).
      if (head > this.tailHead && this.streams.size > 0) this.refresh();
      if (numbered < STEP || this.closing) break;
    }
    if (Date.now() - this.lastPrune >= this.config.sweepInterval * 1000) {
      this.lastPrune = Date.now();
      for (let i = 0; i < 10 && !this.closing; i++) {
        if ((await this.store.prune(this.config.eventsRetention, STEP)) < STEP) break;
      }
    }
  }

  private startLive(): void {
    if (this.liveTimer || this.closing) return;
    this.liveTimer = setInterval(() => this.sequence(), LIVE_MS);
    this.liveTimer.unref();
    this.refresh();
  }

  private stopLive(): void {
    clearInterval(this.liveTimer);
    this.liveTimer = undefined;
    this.generation++;
    this.tail = [];
    this.tailHead = -1;
  }

  /** Before the HTTP server closes: end every stream, so closing does not wait for them. */
  beforeApplicationShutdown(): void {
    this.closing = true;
    clearInterval(this.idleTimer);
    this.stopLive();
    for (const stream of this.streams) stream.end();
    this.wakeReaders();
  }

  async onApplicationShutdown(): Promise<void> {
    this.beforeApplicationShutdown();
    await this.sequencing;
    await this.fetching;
  }
}
