import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { Client } from 'pg';
import { DATABASE_TARGET } from './database.tokens';
import type { DatabaseTarget } from './data-source-options';

const CHANNEL = 'pulse_work';
/** Carries the id of a runner that was deregistered, enabled or disabled: every process drops it from its caches. */
const GONE_CHANNEL = 'pulse_runner_gone';
/** Carries `<kind>:<id>` of a cached credential that changed (a revoked API token): every process drops it. */
const FORGET_CHANNEL = 'pulse_forget';
/** Sent by the event sequencer (pulse_sequence_events) when it numbered events: feed readers read again. */
const EVENTS_CHANNEL = 'pulse_events';
/** How long "no run waits at all" may be trusted without a new look (announcements end it at once). */
const EMPTY_TRUST_MS = 1000;
/** Carries runner ids (comma-separated) whose busy long poll must answer now: a run of theirs was canceled or timed out. */
const RUNNER_WAKE_CHANNEL = 'pulse_runner_wake';
/** Runner ids per NOTIFY: a payload must stay under PostgreSQL's 8000 bytes. */
const IDS_PER_NOTIFY = 200;
/** Past this many remembered wake-ups the memory starts over, waking every busy poll once. */
const MAX_REMEMBERED_WAKES = 100_000;

/** Why a busy runner's long poll is answered early. `instances` is kept for section 10 (instance list changed). */
export type RunnerWakeReason = 'cancel' | 'timeout' | 'instances' | 'changed';

/**
 * Handed to a woken waiter. If it finds no work for itself it calls `pass()`, which wakes the
 * next waiter in line; one announcement can be passed on at most once per waiter it could reach.
 */
export interface WakeUp {
  pass(): void;
}

/** A long poll waiting for work: resolved with a WakeUp, or null on time-out or shutdown. */
interface Waiter {
  resolve: (wakeUp: WakeUp | null) => void;
  timer: NodeJS.Timeout;
}

/**
 * Wakes long-polling heartbeats when work is submitted, in this process and in every other
 * orchestrator process on the same PostgreSQL (LISTEN/NOTIFY; on the embedded database, which has
 * no NOTIFY over its socket, in process only).
 *
 * A submission of k runs wakes k waiters, oldest first, not the whole fleet. A woken waiter that
 * finds nothing for itself (its labels do not match) passes its wake-up on to the next waiter,
 * at most once per waiter, so a matching runner further back in the line still gets the run.
 * A waiting long poll holds no database connection: only this one listening client does.
 */
@Injectable()
export class WorkSignal implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(WorkSignal.name);
  private readonly waiters: Waiter[] = [];
  private listener: Client | undefined;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Counts wake-ups: a poller that saw it change since it last looked missed one and looks again. */
  private wakes = 0;
  /** Counts announcements (or passed-on wake-ups) that found too few waiters to wake. */
  private shortWakes = 0;
  private emptyEpoch = -1;
  private emptyUntil = 0;
  private readonly goneListeners: Array<(runnerId: string | null) => void> = [];
  private readonly forgetListeners = new Map<string, Array<(id: string | null) => void>>();
  private readonly eventListeners: Array<() => void> = [];
  private readonly wokenListeners: Array<(runnerIds: string[] | null) => void> = [];
  /** Busy long polls, by runner id: each resolves true when woken, false on time-out or shutdown. */
  private readonly runnerWaiters = new Map<string, Set<(woken: boolean) => void>>();
  /** Counts runner wake-ups; `lastRunnerWake` remembers the count at each runner's last one. */
  private runnerWakes = 0;
  private readonly lastRunnerWake = new Map<string, number>();
  /** The count at the last "wake every busy poll" (a missed notification is possible). */
  private allRunnersWokenAt = 0;

  constructor(@Inject(DATABASE_TARGET) private readonly target: DatabaseTarget) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.target.embedded) await this.listen();
  }

  private async listen(): Promise<void> {
    const client = new Client({ connectionString: this.target.url });
    client.on('notification', (msg) => {
      if (msg.channel === GONE_CHANNEL) this.runnerChanged(msg.payload ?? null);
      else if (msg.channel === FORGET_CHANNEL) this.forgot(msg.payload ?? '');
      else if (msg.channel === EVENTS_CHANNEL) this.eventsSequenced();
      else if (msg.channel === RUNNER_WAKE_CHANNEL) this.wakeRunnersHere(msg.payload ? msg.payload.split(',') : null);
      else this.wake(Number(msg.payload) || 1);
    });
    client.on('error', (err) => {
      this.logger.warn(`work listener lost its connection: ${err.message}`);
      this.reconnect(client);
    });
    client.on('end', () => this.reconnect(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      await client.query(`LISTEN ${GONE_CHANNEL}`);
      await client.query(`LISTEN ${FORGET_CHANNEL}`);
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
      await client.query(`LISTEN ${RUNNER_WAKE_CHANNEL}`);
      this.listener = client;
      // Anything submitted or deregistered while we were not listening: let every waiter look
      // once, and forget every cached runner.
      this.wake(this.waiters.length);
      this.runnerChanged(null);
      this.forgetAll();
      this.eventsSequenced();
    } catch (err) {
      this.logger.warn(`cannot LISTEN for work yet: ${(err as Error).message}`);
      this.reconnect(client);
    }
  }

  private reconnect(client: Client): void {
    if (this.closed || this.reconnectTimer) return;
    if (this.listener === client) this.listener = undefined;
    this.runnerChanged(null);
    this.forgetAll();
    client.removeAllListeners();
    client.on('error', () => undefined);
    void client.end().catch(() => undefined);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.listen();
    }, 1000);
  }

  /**
   * Announces k new runs. On PostgreSQL this goes through NOTIFY, which this process also
   * receives, so every process wakes its own share of waiters.
   */
  async announce(k: number, notify: (sql: string, params: unknown[]) => Promise<unknown>): Promise<void> {
    if (k <= 0) return;
    if (this.target.embedded) {
      this.wake(k);
      return;
    }
    await notify(`SELECT pg_notify($1, $2)`, [CHANNEL, String(k)]);
  }

  /** Waits up to `ms` for work; a WakeUp when woken by an announcement, null otherwise. */
  wait(ms: number): Promise<WakeUp | null> {
    if (this.closed || ms <= 0) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        resolve: (wakeUp) => {
          clearTimeout(waiter.timer);
          resolve(wakeUp);
        },
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(null);
        }, ms),
      };
      this.waiters.push(waiter);
    });
  }

  /** Wakes up to k waiters, oldest first. */
  wake(k: number): void {
    this.wakes++;
    if (k > this.waiters.length) this.shortWakes++;
    let budget = this.waiters.length;
    const wakeUp: WakeUp = {
      pass: () => {
        const next = budget-- > 0 ? this.waiters.shift() : undefined;
        if (next) next.resolve(wakeUp);
        else this.shortWakes++;
      },
    };
    for (const waiter of this.waiters.splice(0, Math.max(0, k))) waiter.resolve(wakeUp);
  }

  /**
   * Changes whenever an announcement could not wake as many waiters as it had runs (or a passed
   * wake-up found nobody): work may then wait that no long poll was told about. A poll about to
   * wait compares two readings to know whether it must look once more first.
   */
  get shortfall(): number {
    return this.shortWakes;
  }

  /**
   * True while announcements reach this process (always on the embedded database; on PostgreSQL
   * while the LISTEN connection is up). Caches that rely on being told are used only then.
   */
  get reliable(): boolean {
    return this.target.embedded || this.listener !== undefined;
  }

  /** True when this process looked recently, found no waiting run at all, and nothing came since. */
  queueKnownEmpty(): boolean {
    return this.reliable && this.emptyEpoch === this.wakes && Date.now() < this.emptyUntil;
  }

  /** Records that no run was waiting, as seen by a look that started at `epoch`. */
  noteQueueEmpty(epoch: number): void {
    if (epoch !== this.wakes) return;
    this.emptyEpoch = epoch;
    this.emptyUntil = Date.now() + EMPTY_TRUST_MS;
  }

  /** Tells every process (this one at once) that a runner was deregistered, enabled or disabled. */
  async announceRunnerChanged(runnerId: string, notify: (sql: string, params: unknown[]) => Promise<unknown>): Promise<void> {
    this.runnerChanged(runnerId);
    if (!this.target.embedded) await notify(`SELECT pg_notify($1, $2)`, [GONE_CHANNEL, runnerId]);
  }

  /** Listens for runner changes; `null` means "forget every runner" (notifications may have been missed). */
  onRunnerChanged(listener: (runnerId: string | null) => void): void {
    this.goneListeners.push(listener);
  }

  /**
   * Listens for "events were numbered" from the sequencer of any process (NOTIFY on PostgreSQL;
   * the embedded database has one process, whose sequencer calls its readers directly). Also
   * called after the listening connection came back: notifications may have been missed.
   */
  onEventsSequenced(listener: () => void): void {
    this.eventListeners.push(listener);
  }

  private eventsSequenced(): void {
    for (const listener of this.eventListeners) listener();
  }

  private runnerChanged(runnerId: string | null): void {
    for (const listener of this.goneListeners) listener(runnerId);
    // A deregistered runner's busy poll answers now (with its 403 on the next heartbeat); "every
    // runner" means notifications may have been missed, so every busy poll looks again.
    this.wakeRunnersHere(runnerId ? [runnerId] : null);
  }

  /**
   * Answers the busy long polls of these runners now, in whichever process holds them (NOTIFY on
   * PostgreSQL, after the caller's commit; in process on the embedded database). `reason` is for
   * the reader: every wake-up makes the poll look at the runner's runs again and answer.
   */
  async wakeRunners(
    runnerIds: Array<string | null>,
    _reason: RunnerWakeReason,
    notify: (sql: string, params: unknown[]) => Promise<unknown>,
  ): Promise<void> {
    const ids = [...new Set(runnerIds.filter((id): id is string => typeof id === 'string' && id.length > 0))];
    if (ids.length === 0) return;
    if (this.target.embedded) {
      this.wakeRunnersHere(ids);
      return;
    }
    for (let i = 0; i < ids.length; i += IDS_PER_NOTIFY) {
      await notify(`SELECT pg_notify($1, $2)`, [RUNNER_WAKE_CHANNEL, ids.slice(i, i + IDS_PER_NOTIFY).join(',')]);
    }
  }

  /** Listens for runner wake-ups in this process (ids, or null: every runner); caches about runners drop them. */
  onRunnersWoken(listener: (runnerIds: string[] | null) => void): void {
    this.wokenListeners.push(listener);
  }

  /** Changes at every runner wake-up; read it before looking at a runner's runs, pass it to waitForRunner. */
  get runnerEpoch(): number {
    return this.runnerWakes;
  }

  /**
   * Waits up to `ms` for a wake-up of this runner: true when woken (also when one came after
   * `since`, a runnerEpoch reading taken before the caller looked), false on time-out or shutdown.
   */
  waitForRunner(runnerId: string, ms: number, since: number): Promise<boolean> {
    if ((this.lastRunnerWake.get(runnerId) ?? 0) > since || this.allRunnersWokenAt > since) return Promise.resolve(true);
    if (this.closed || ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      let waiters = this.runnerWaiters.get(runnerId);
      // A runner has one heartbeat in flight: an older poll here was left by its runner (its run
      // ended, or the connection dropped). It ends now, unanswered, instead of holding on.
      if (waiters) for (const done of [...waiters]) done(false);
      waiters = this.runnerWaiters.get(runnerId);
      if (!waiters) this.runnerWaiters.set(runnerId, (waiters = new Set()));
      const own = waiters;
      const done = (woken: boolean): void => {
        clearTimeout(timer);
        own.delete(done);
        if (own.size === 0 && this.runnerWaiters.get(runnerId) === own) this.runnerWaiters.delete(runnerId);
        resolve(woken);
      };
      const timer = setTimeout(() => done(false), ms);
      own.add(done);
    });
  }

  /** How many busy long polls wait in this process (for metrics). */
  get busyWaiting(): number {
    let n = 0;
    for (const set of this.runnerWaiters.values()) n += set.size;
    return n;
  }

  /** Wakes the busy polls of these runners in this process; null wakes all of them. */
  private wakeRunnersHere(runnerIds: string[] | null): void {
    const seq = ++this.runnerWakes;
    for (const listener of this.wokenListeners) listener(runnerIds);
    if (runnerIds === null || this.lastRunnerWake.size > MAX_REMEMBERED_WAKES) {
      this.lastRunnerWake.clear();
      this.allRunnersWokenAt = seq;
      for (const set of [...this.runnerWaiters.values()]) for (const done of [...set]) done(true);
      return;
    }
    for (const id of runnerIds) {
      this.lastRunnerWake.set(id, seq);
      const set = this.runnerWaiters.get(id);
      if (set) for (const done of [...set]) done(true);
    }
  }

  /**
   * Tells every other process that a cached credential of `kind` changed (an API token was
   * revoked). Sent inside the caller's transaction, a NOTIFY is delivered when it commits. The
   * caller forgets it in this process itself, after the commit.
   */
  async announceForget(kind: string, id: string, notify: (sql: string, params: unknown[]) => Promise<unknown>): Promise<void> {
    if (!this.target.embedded) await notify(`SELECT pg_notify($1, $2)`, [FORGET_CHANNEL, `${kind}:${id}`]);
  }

  /** Listens for changed credentials of one kind; `null` means "forget them all" (notifications may have been missed). */
  onForget(kind: string, listener: (id: string | null) => void): void {
    const listeners = this.forgetListeners.get(kind) ?? [];
    listeners.push(listener);
    this.forgetListeners.set(kind, listeners);
  }

  private forgot(payload: string): void {
    const at = payload.indexOf(':');
    if (at < 0) return;
    for (const listener of this.forgetListeners.get(payload.slice(0, at)) ?? []) listener(payload.slice(at + 1));
  }

  private forgetAll(): void {
    for (const listeners of this.forgetListeners.values()) for (const listener of listeners) listener(null);
  }

  /** Changes whenever work was announced; compare two readings to see if anything came. */
  get epoch(): number {
    return this.wakes;
  }

  /** How many long polls wait in this process (for metrics). */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Answers every pending long poll at once (shutdown). */
  releaseAll(): void {
    for (const waiter of this.waiters.splice(0)) waiter.resolve(null);
    for (const set of [...this.runnerWaiters.values()]) for (const done of [...set]) done(false);
  }

  /** Before the HTTP server closes: answer the waiting long polls so it need not wait for them. */
  beforeApplicationShutdown(): void {
    this.closed = true;
    this.releaseAll();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.releaseAll();
    const listener = this.listener;
    this.listener = undefined;
    if (listener) {
      listener.removeAllListeners();
      listener.on('error', () => undefined);
      await listener.end().catch(() => undefined);
    }
  }
}
