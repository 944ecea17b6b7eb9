import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import type { RunRow } from './run.entity';
import { Coalescer } from '../common/coalescer';
import { RunnerCapacity, RunRepository } from './run.repository';

export interface RunnerView extends RunnerCapacity {
  id: string;
  enabled: boolean;
}

export interface Exchange {
  /** The run to hand out in this heartbeat response (new, or the same unacknowledged offer again). */
  assignment?: RunRow;
  /** True when `assignment` was claimed by this exchange (not a re-offer). */
  fresh?: boolean;
  /** Runs the runner must stop now. */
  cancel: string[];
  /** The runner holds a run (acknowledged or being canceled): no new one for it. */
  holding: boolean;
  /** Runs this exchange put back in the queue (lost by the runner): announce them. */
  requeued: number;
}

const UNIQUE_VIOLATION = '23505';

/** A claim found that the runner holds a run already (handed out by another process). */
const HELD = 'held';
type ClaimOutcome = RunRow | undefined | typeof HELD;

/**
 * What happens to runs in a heartbeat (SPEC sections 2 and 4), in one transaction:
 * acknowledge what the runner lists, treat acknowledged runs it stopped listing as lost, tell it
 * what to cancel, and, when it is ready and holds nothing, offer it one run. An offer it has not
 * acknowledged yet is offered again with the same messageId: a heartbeat response can be lost.
 */
@Injectable()
export class DispatchService {
  /** Looks for the run a runner holds, gathered like the claims (one SELECT for many runners). */
  private readonly holders = new Coalescer<string, RunRow | undefined>((ids) => this.runs.heldByMany(this.db.manager, ids));

  /** Claims outside a transaction, gathered: one pair of statements for every runner asking at once. */
  private readonly claims = new Coalescer<RunnerView, ClaimOutcome>((views) => this.claimMany(views));

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly runs: RunRepository,
  ) {}

  /**
   * `knownIdle`: this process saw the runner hold nothing a moment ago, so the look for a held
   * run is skipped. If it does hold one (handed out by another process), the claim hits the
   * unique index and the full exchange below re-offers it.
   */
  async exchange(runner: RunnerView, ready: boolean, listed: string[] | undefined, knownIdle = false): Promise<Exchange> {
    if (!listed || listed.length === 0) {
      // The common idle case, in as few round trips as possible: a runner that lists nothing and
      // holds nothing has nothing to acknowledge, release or cancel. The look for a held run and
      // the claim are shared with the other runners asking at the same moment; the unique index
      // settles a race between two heartbeats of the same runner.
      const held = knownIdle ? undefined : await this.holders.submit(runner.id);
      if (!held) {
        if (!ready || !runner.enabled) return { cancel: [], holding: false, requeued: 0 };
        const claimed = await this.claims.submit(runner);
        if (claimed !== HELD) {
          return { assignment: claimed, fresh: claimed !== undefined, cancel: [], holding: false, requeued: 0 };
        }
      }
    }
    try {
      return await this.db.transaction((tx) => this.exchangeIn(tx, runner, ready, listed));
    } catch (err) {
      // Two heartbeats of one runner raced for a run: the unique index refused the second claim.
      // Running the exchange again finds the run the first one took.
      if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err;
      return this.db.transaction((tx) => this.exchangeIn(tx, runner, ready, listed));
    }
  }

  /**
   * Only the claim, for a long poll that was woken: the runner was idle when it started waiting,
   * so there is nothing to acknowledge or cancel. One UPDATE per candidate namespace, no
   * transaction; if the runner took a run meanwhile, the unique index refuses a second one.
   */
  async claimFor(runner: RunnerView): Promise<RunRow | undefined> {
    const claimed = await this.claims.submit(runner);
    return claimed === HELD ? undefined : claimed;
  }

  /**
   * The claims of one moment, together. Runners of the same capacity (labels, framework,
   * resources, executors) share one claim statement, which also makes the namespace choice; a
   * runner asking twice in one batch claims alone after it.
   */
  private async claimMany(views: RunnerView[]): Promise<ClaimOutcome[]> {
    const out: ClaimOutcome[] = views.map(() => undefined);
    const groups = new Map<string, number[]>();
    const again: number[] = [];
    const seen = new Set<string>();
    views.forEach((v, i) => {
      if (seen.has(v.id)) {
        again.push(i);
        return;
      }
      seen.add(v.id);
      const key = JSON.stringify([v.labels, v.framework, v.cpu, v.memory, v.disk, v.namespaces, v.canShell, v.canContainer]);
      const group = groups.get(key);
      if (group) group.push(i);
      else groups.set(key, [i]);
    });
    await Promise.all([...groups.values()].map((group) => this.claimGroup(views, group, out, true)));
    for (const i of again) out[i] = await this.claimOne(views[i]);
    return out;
  }

  private async claimGroup(views: RunnerView[], group: number[], out: ClaimOutcome[], retry: boolean): Promise<void> {
    const cap = views[group[0]];
    let claimed: { taken: Array<{ run: RunRow; index: number }>; asked: number };
    try {
      const leases = group.map((i) => ({ runnerId: views[i].id, messageId: randomUUID() }));
      claimed = await this.runs.claimBest(cap, leases);
    } catch (err) {
      if (group.length === 1) {
        // It holds a run already (handed out by another process): the unique index refused it.
        if ((err as { code?: string }).code === UNIQUE_VIOLATION) out[group[0]] = HELD;
        else throw err;
        return;
      }
      // One of them holds a run already (the unique index refused the statement), or the
      // statement lost a deadlock: each claims on its own, which says which one holds.
      for (const i of group) out[i] = await this.claimOne(views[i]);
      return;
    }
    const served = new Set<number>();
    for (const t of claimed.taken) {
      out[group[t.index]] = t.run;
      served.add(t.index);
    }
    // Others took some of the runs counted (SKIP LOCKED): the rest of the group looks once more.
    const left = group.filter((_, j) => !served.has(j));
    if (retry && claimed.taken.length > 0 && claimed.taken.length < claimed.asked && left.length > 0) {
      await this.claimGroup(views, left, out, false);
    }
  }

  private async claimOne(runner: RunnerView): Promise<ClaimOutcome> {
    try {
      return await this.claim(this.db.manager, runner);
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) return HELD;
      throw err;
    }
  }

  private async exchangeIn(
    tx: EntityManager,
    runner: RunnerView,
    ready: boolean,
    listed: string[] | undefined,
  ): Promise<Exchange> {
    let requeued = 0;
    if (listed) {
      await this.runs.acknowledge(tx, runner.id, listed);
      const lost = await this.runs.release(tx, runner.id, 'runner lost the run (stopped reporting it)', listed, 'acknowledged');
      requeued = lost.filter((r) => r.state === 'waiting').length;
    }
    const cancel = await this.runs.toCancel(tx, runner.id, listed ?? []);
    const held = await this.runs.heldBy(tx, runner.id);
    if (!runner.enabled && held && !held.acknowledged) {
      // Disabled before it took the offer: the offer goes back to the queue, no attempt spent.
      await this.runs.release(tx, runner.id, 'runner disabled before it took the run', null, 'offers');
      return { cancel, holding: false, requeued: requeued + 1 };
    }
    if (!ready || !runner.enabled) return { cancel, holding: held !== undefined, requeued };
    if (held) {
      const reoffer = !held.acknowledged && held.cancel_requested_at === null;
      return { assignment: reoffer ? held : undefined, cancel, holding: true, requeued };
    }
    const claimed = await this.claim(tx, runner);
    return { assignment: claimed, fresh: claimed !== undefined, cancel, holding: false, requeued };
  }

  private async claim(tx: EntityManager, runner: RunnerView): Promise<RunRow | undefined> {
    for (const namespace of await this.runs.candidateNamespaces(tx, runner)) {
      const run = await this.runs.claimInNamespace(tx, runner, namespace, runner.id, randomUUID());
      if (run) return run;
    }
    return undefined;
  }

  /** Of the runs a runner listed, those it must stop (canceled, timed out, not its own); read only. */
  toStop(runnerId: string, listed: string[]): Promise<string[]> {
    return this.runs.toCancel(this.db.manager, runnerId, listed);
  }

  /** Gives a run just offered (not yet acknowledged) back to the queue, no attempt spent. */
  async returnOffer(runnerId: string, reason: string): Promise<number> {
    return (await this.db.transaction((tx) => this.runs.release(tx, runnerId, reason, null, 'offers'))).length;
  }

  /** Releases every run a runner holds (deregistered or dead). */
  releaseAll(tx: EntityManager, runnerId: string, reason: string): Promise<Array<{ id: string; state: string }>> {
    return this.runs.release(tx, runnerId, reason, null, 'all');
  }
}
