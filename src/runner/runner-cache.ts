import { Inject, Injectable } from '@nestjs/common';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { WorkSignal } from '../database/work-signal';
import type { RunnerView } from '../run/dispatch.service';

/** Who a runner token belongs to. */
export interface AuthenticatedRunner {
  id: string;
  /**
   * From when (ms since the epoch) its heartbeat answers offer a new token (SPEC section 12:
   * the last quarter of the token's life, or at once after an admin's rotate-token, or for a
   * runner that fell back to its previous token); Infinity: never.
   */
  offerFrom: number;
}

interface Liveness {
  view: RunnerView;
  /** When this process last wrote the runner's last_heartbeat_at. */
  aliveAt: number;
  /** Whether the runner held a run after its last exchange in this process. */
  holding: boolean;
}

/** Upper bound on cached entries; past it the cache starts over (it is only a cache). */
const MAX_ENTRIES = 200_000;
const TOKEN_TTL_MS = 60_000;

/**
 * What the hot path of the runner routes may remember between requests, so an idle heartbeat
 * costs no database round trip:
 *
 * - token → runner id, for TOKEN_TTL_MS. A deregistration drops the runner at once in every
 *   process (NOTIFY on PostgreSQL, see WorkSignal); while that channel is down nothing is cached.
 * - the runner's dispatch view (enabled, labels, capacity) and when its liveness was last written,
 *   for a quarter of RUNNER_DEAD_AFTER: heartbeats inside that window do not rewrite
 *   last_heartbeat_at (a runner that keeps heartbeating is written at least three times per
 *   RUNNER_DEAD_AFTER, so it never looks dead). Enable, disable and deregistration drop the entry
 *   in every process at once, like tokens.
 */
@Injectable()
export class RunnerCache {
  private readonly tokens = new Map<string, { runner: AuthenticatedRunner; until: number }>();
  private readonly liveness = new Map<string, Liveness>();
  /** Bumped by every forget: an answer read from the database before a forget is not cached. */
  private changes = 0;
  readonly windowMs: number;

  constructor(
    private readonly signal: WorkSignal,
    @Inject(PULSE_CONFIG) config: PulseConfig,
  ) {
    this.windowMs = (config.runnerDeadAfter * 1000) / 4;
    signal.onRunnerChanged((id) => (id ? this.forget(id) : this.clear()));
  }

  token(hash: string): AuthenticatedRunner | undefined {
    const hit = this.tokens.get(hash);
    if (!hit) return undefined;
    if (hit.until < Date.now() || !this.signal.reliable) {
      this.tokens.delete(hash);
      return undefined;
    }
    return hit.runner;
  }

  /** A reading of the change counter, taken before a database read whose answer may be cached. */
  get version(): number {
    return this.changes;
  }

  /** `validUntil`: when the token itself stops working (ms); the entry never outlives it. */
  rememberToken(hash: string, runner: AuthenticatedRunner, version: number, validUntil = Infinity): void {
    if (!this.signal.reliable || version !== this.changes) return;
    if (this.tokens.size >= MAX_ENTRIES) this.tokens.clear();
    this.tokens.set(hash, { runner, until: Math.min(Date.now() + TOKEN_TTL_MS, validUntil) });
  }

  /** The runner's liveness entry if it is still inside the window. */
  fresh(id: string): Liveness | undefined {
    const hit = this.liveness.get(id);
    if (!hit || Date.now() - hit.aliveAt >= this.windowMs || !this.signal.reliable) return undefined;
    return hit;
  }

  rememberAlive(id: string, view: RunnerView, version: number): void {
    if (version !== this.changes) return;
    if (this.liveness.size >= MAX_ENTRIES) this.liveness.clear();
    this.liveness.set(id, { view, aliveAt: Date.now(), holding: true });
  }

  setHolding(id: string, holding: boolean): void {
    const hit = this.liveness.get(id);
    if (hit) hit.holding = holding;
  }

  /** Drops what is known about one runner (deregistered, enabled or disabled). */
  forget(id: string): void {
    this.changes++;
    this.liveness.delete(id);
    for (const [hash, hit] of this.tokens) if (hit.runner.id === id) this.tokens.delete(hash);
  }

  clear(): void {
    this.changes++;
    this.tokens.clear();
    this.liveness.clear();
  }
}
