import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import type { RunRow } from './run.entity';
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

/**
 * What happens to runs in a heartbeat (SPEC sections 2 and 4), in one transaction:
 * acknowledge what the runner lists, treat acknowledged runs it stopped listing as lost, tell it
 * what to cancel, and, when it is ready and holds nothing, offer it one run. An offer it has not
 * acknowledged yet is offered again with the same messageId: a heartbeat response can be lost.
 */
@Injectable()
export class DispatchService {
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
      // holds nothing has nothing to acknowledge, release or cancel. The claim is one UPDATE;
      // the unique index settles a race between two heartbeats of the same runner.
      const held = knownIdle ? undefined : await this.runs.heldBy(this.db.manager, runner.id);
      if (!held) {
        if (!ready || !runner.enabled) return { cancel: [], holding: false, requeued: 0 };
        try {
          const claimed = await this.claim(this.db.manager, runner);
          return { assignment: claimed, fresh: claimed !== undefined, cancel: [], holding: false, requeued: 0 };
        } catch (err) {
          if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err;
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
    try {
      return await this.claim(this.db.manager, runner);
    } catch (err) {
      if ((err as { code?: string }).code === UNIQUE_VIOLATION) return undefined;
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

  /** Releases every run a runner holds (deregistered or dead). */
  releaseAll(tx: EntityManager, runnerId: string, reason: string): Promise<Array<{ id: string; state: string }>> {
    return this.runs.release(tx, runnerId, reason, null, 'all');
  }
}
