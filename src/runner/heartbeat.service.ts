import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Coalescer } from '../common/coalescer';
import { Forbidden } from '../common/errors';
import { returned } from '../common/sql';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { WorkSignal } from '../database/work-signal';
import { DispatchService, RunnerView } from '../run/dispatch.service';
import type { RunRow } from '../run/run.entity';
import { DeliverableRun, SecretDelivery } from '../run/secret-delivery';
import { MetricsService } from '../metrics/metrics.service';
import { InstanceProtocol } from '../instance/instance-protocol';
import { HeartbeatBody, HeartbeatRequest, RunAssignment } from './runner.dto';
import { capabilitiesOf, executorFlags } from './capabilities';
import { RunnerCache } from './runner-cache';
import { frameworkName, systemFacts } from './runner.service';

/** What a heartbeat tells about its runner, ready for the liveness write. */
interface AliveFacts {
  id: string;
  ip: string | null;
  usage: string | null;
  framework: string | null;
  frameworkName: string | null;
  system: string | null;
  caps: ReturnType<typeof capabilitiesOf>;
}

interface AliveRow {
  enabled: boolean;
  labels: string[];
  framework_name: string | null;
  res_cpu: number | null;
  res_memory: number | null;
  res_disk: number | null;
  namespaces: string[] | null;
  can_shell: boolean;
  can_container: boolean;
}

/** How long end-of-poll liveness writes are gathered before one UPDATE writes them all. */
const TOUCH_FLUSH_MS = 250;

/** A runner that registered no resources takes runs of any size (it did not say it cannot). */
const UNLIMITED = 2147483647;

export function toAssignment(run: DeliverableRun): RunAssignment {
  return {
    id: run.id,
    project: run.batch_id,
    messageId: run.message_id as string,
    attempt: run.attempt,
    repo: run.repo,
    script: run.script,
    env: run.env,
    timeout: run.timeout,
    ...(run.payload !== null && { payload: run.payload }),
    ...(run.image !== null && run.image !== undefined && { image: run.image }),
    ...((run.res_cpu > 0 || run.res_memory > 0 || run.res_disk > 0) && {
      resources: { cpu: run.res_cpu, memory: run.res_memory, disk: run.res_disk },
    }),
    ...(run.masked && { masked: run.masked }),
  };
}

/**
 * The heartbeat (SPEC section 2): marks the runner alive, settles its runs (DispatchService), and,
 * when it is ready with nothing to do, holds the request open up to `wait` seconds until work for
 * it arrives (long poll). A waiting poll holds no database connection.
 */
@Injectable()
export class HeartbeatService implements BeforeApplicationShutdown {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly dispatch: DispatchService,
    private readonly signal: WorkSignal,
    private readonly metrics: MetricsService,
    private readonly cache: RunnerCache,
    private readonly delivery: SecretDelivery,
    private readonly instances: InstanceProtocol,
  ) {}

  private readonly alive = new Coalescer<AliveFacts, AliveRow | undefined>((items) => this.markAliveMany(items));
  private looking = false;
  private readonly touched = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;

  /**
   * `clientIp`: the runner's address, read only when it is written (the address behind a trusted
   * proxy is worked out from the headers on each read).
   */
  async beat(runnerId: string, req: HeartbeatRequest, clientIp: () => string | null): Promise<HeartbeatBody> {
    const epoch = this.signal.epoch;
    const runnerEpoch = this.signal.runnerEpoch;
    const short = this.signal.shortfall;
    const ready = req.status === 'ready';
    const listsNothing = !req.runs || req.runs.length === 0;
    this.metrics.inc('pulse_heartbeats_total');
    // What it holds (SPEC section 10): nothing to do when it speaks no instances or holds none and is given none.
    const reportsAny = (req.instances?.length ?? 0) > 0;
    // A runner that has not acted on its desired list yet gets it now, not after a long poll.
    const unsettled = !this.instances.nothingToSettle(runnerId, req.instances) && (await this.instances.report(runnerId, req.instances, clientIp()));
    const wait = unsettled ? 0 : Math.min(req.wait ?? 0, this.config.longPollMax);

    // Idle and recently seen, with no run waiting anywhere: nothing to write, nothing to claim.
    // A runner whose executors changed (its container engine went down or came back) is written.
    const flags = executorFlags(req);
    const cached = this.cache.fresh(runnerId);
    const known = cached && cached.view.canShell === flags.canShell && cached.view.canContainer === flags.canContainer ? cached : undefined;
    if (known && !known.holding && listsNothing && this.signal.queueKnownEmpty()) {
      if (!(ready && known.view.enabled && wait > 0)) return this.answer(runnerId, undefined, [], reportsAny);
      const view = await this.forRuns(known.view);
      let run = await this.longPoll(view, wait * 1000, short, runnerEpoch);
      if (run) run = await this.roomStillThere(view, run);
      if (run) this.handedOut(runnerId, run);
      return this.answer(runnerId, run, [], reportsAny);
    }

    const view = await this.forRuns(known?.view ?? (await this.markAlive(runnerId, req, clientIp())));
    const exchange = await this.dispatch.exchange(view, ready, req.runs, known?.holding === false);
    if (exchange.requeued > 0) await this.announce(exchange.requeued);
    let run = exchange.assignment;
    const fresh = exchange.fresh === true;
    if (run && fresh) run = await this.roomStillThere(view, run);
    this.cache.setHolding(runnerId, exchange.holding || run !== undefined);
    if (!run && !exchange.holding) this.lookForAnyWork(epoch);

    if (!run && ready && view.enabled && !exchange.holding && exchange.cancel.length === 0 && wait > 0) {
      run = await this.longPoll(view, wait * 1000, short, runnerEpoch);
      if (run) run = await this.roomStillThere(view, run);
      if (run) this.handedOut(runnerId, run);
    } else if (run && fresh) {
      this.metrics.observeDispatchLatency((Date.now() - new Date(run.created_at).getTime()) / 1000);
    } else if (!run && !ready && !listsNothing && exchange.cancel.length === 0 && wait > 0) {
      return this.answer(runnerId, undefined, await this.busyPoll(view, req, wait, runnerEpoch), reportsAny);
    }
    return this.answer(runnerId, run, exchange.cancel, reportsAny);
  }

  /**
   * The runner as run dispatch sees it: its resources less what its instances hold (SPEC section
   * 10). The same view, at no cost, for a runner known to hold no instance.
   */
  private async forRuns(view: RunnerView): Promise<RunnerView> {
    const held = await this.instances.claimed(view.id);
    if (!held) return view;
    const left = (total: number, used: number): number => (total >= UNLIMITED ? total : Math.max(0, total - used));
    return { ...view, cpu: left(view.cpu, held.cpu), memory: left(view.memory, held.memory), disk: left(view.disk, held.disk) };
  }

  /**
   * The busy long poll (SPEC section 13): a busy runner's heartbeat is held until one of its runs
   * is canceled or times out (WorkSignal.wakeRunners, from any process), then looks at its runs
   * again and answers with what to stop. It is held at most half of RUNNER_DEAD_AFTER (and
   * LONG_POLL_MAX), and its end counts as a heartbeat, so a busy runner never looks dead.
   */
  private async busyPoll(view: RunnerView, req: HeartbeatRequest, wait: number, since: number): Promise<string[]> {
    const ms = Math.min(wait, this.config.runnerDeadAfter / 2) * 1000;
    const woken = await this.signal.waitForRunner(view.id, ms, since);
    this.touch(view.id);
    if (!woken) return [];
    // Only a look, never a new exchange: the runner may have left this poll (its run ended), and
    // its list is as old as the poll, so it must not acknowledge or release anything.
    return this.dispatch.toStop(view.id, req.runs ?? []);
  }

  private answer(runnerId: string, claimed: RunRow | undefined, cancel: string[], reportsAny: boolean): HeartbeatBody | Promise<HeartbeatBody> {
    // The idle answer (no run, no instances): built at once, nothing to wait for.
    if (!claimed && !reportsAny && this.instances.knownEmpty(runnerId)) return this.body(undefined, cancel, undefined);
    return this.answerWith(runnerId, claimed, cancel, reportsAny);
  }

  private async answerWith(runnerId: string, claimed: RunRow | undefined, cancel: string[], reportsAny: boolean): Promise<HeartbeatBody> {
    // Only a run that names secrets costs anything here: their values are decrypted for it now.
    const run = await this.delivery.prepare(claimed);
    if (claimed && !run) this.cache.setHolding(runnerId, false);
    // The whole desired list, read last (after any wait); nothing for a runner known to hold none.
    const instances = await this.instances.desiredFor(runnerId, reportsAny);
    return this.body(run, cancel, instances);
  }

  private body(run: DeliverableRun | undefined, cancel: string[], instances: HeartbeatBody['instances']): HeartbeatBody {
    return {
      status: 'ok',
      interval: this.config.heartbeatInterval,
      ...(run && { run: toAssignment(run) }),
      ...(cancel.length > 0 && { cancel }),
      ...(instances && { instances }),
    };
  }

  /**
   * A run just claimed for a runner that can hold instances, checked against them afresh: when an
   * instance was placed on it at the same moment (InstanceProtocol.overcommitted), the run goes
   * back to the queue unacknowledged, no attempt spent, and another runner takes it.
   */
  private async roomStillThere(view: RunnerView, run: RunRow): Promise<RunRow | undefined> {
    if (!view.canContainer || !(await this.instances.overcommitted(view.id, run))) return run;
    this.cache.setHolding(view.id, false);
    const back = await this.dispatch.returnOffer(view.id, 'an instance was placed on the runner at the same moment; its room is taken');
    if (back > 0) await this.announce(back);
    return undefined;
  }

  private handedOut(runnerId: string, run: RunRow): void {
    this.cache.setHolding(runnerId, true);
    this.metrics.observeDispatchLatency((Date.now() - new Date(run.created_at).getTime()) / 1000);
  }

  /**
   * After a claim found nothing: is anything waiting at all? If not, idle heartbeats skip the
   * database until something is announced (or for a second). One look at a time per process.
   */
  private lookForAnyWork(epoch: number): void {
    if (this.looking || this.signal.queueKnownEmpty()) return;
    this.looking = true;
    this.anyWaiting()
      .then((any) => {
        if (!any) this.signal.noteQueueEmpty(epoch);
      })
      .catch(() => undefined)
      .finally(() => (this.looking = false));
  }

  /**
   * Waits for an announcement of work and tries to claim it; passes a wake-up it cannot use on.
   * A wake-up of this runner (its desired list of instances changed, from any process, since
   * `since`) ends the wait at once with no run: the answer carries the new list.
   */
  private async longPoll(view: RunnerView, ms: number, short: number, since: number): Promise<RunRow | undefined> {
    const deadline = Date.now() + ms;
    // Work announced between our claim attempt and now woke other waiters, unless there were too
    // few of them: then it may wait for nobody, so look once more before waiting.
    if (this.signal.shortfall !== short) {
      const run = await this.dispatch.claimFor(view);
      if (run) return run;
    }
    let waited = false;
    try {
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0) return undefined;
        const work = this.signal.wait(left);
        const first = await Promise.race([
          work.then((wakeUp) => ({ wakeUp, mine: false })),
          this.signal.waitForRunner(view.id, left, since).then((mine) => ({ wakeUp: null, mine })),
        ]);
        waited = true;
        const wakeUp = first.wakeUp;
        if (!wakeUp) {
          // Its list changed (or the time is up): answer now; a work wake-up still on its way goes to the next waiter.
          if (first.mine) void work.then((late) => late?.pass());
          return undefined;
        }
        // Still enabled and registered? The cache knows (both changes evict it); else ask.
        if (!this.cache.fresh(view.id)?.view.enabled && !(await this.stillActive(view.id))) {
          wakeUp.pass();
          return undefined;
        }
        const run = await this.dispatch.claimFor(view);
        if (run) return run;
        // Not for us (labels, framework, resources) or already taken: hand the wake-up on only if
        // something still waits, so a taken run does not walk the whole line of waiters.
        if (await this.anyWaiting()) wakeUp.pass();
      }
    } finally {
      // The poll itself proves the runner alive: count its end as a heartbeat.
      if (waited) this.touch(view.id);
    }
  }

  /** Updates the runner's liveness and facts; 403 when it was deregistered meanwhile. */
  private async markAlive(runnerId: string, req: HeartbeatRequest, ip: string | null): Promise<RunnerView> {
    const version = this.cache.version;
    const facts = systemFacts(req.framework);
    const row = await this.alive.submit({
      id: runnerId,
      ip,
      usage: req.usage ? JSON.stringify(req.usage) : null,
      framework: req.framework ? JSON.stringify(req.framework) : null,
      frameworkName: frameworkName(req.framework),
      system: facts ? JSON.stringify(facts) : null,
      caps: capabilitiesOf(req),
    });
    if (!row) throw new Forbidden();
    const view: RunnerView = {
      id: runnerId,
      enabled: row.enabled,
      labels: row.labels,
      framework: row.framework_name,
      cpu: row.res_cpu ?? UNLIMITED,
      memory: row.res_memory ?? UNLIMITED,
      disk: row.res_disk ?? UNLIMITED,
      namespaces: row.namespaces,
      canShell: row.can_shell,
      canContainer: row.can_container,
    };
    this.cache.rememberAlive(runnerId, view, version);
    return view;
  }

  /**
   * The liveness writes of one moment in one statement (10,000 runners coming back after a
   * restart all miss the cache at once). A runner twice in one batch gets the row of the one write
   * applied; a batch that fails (a deadlock with a sweep) is written one runner at a time.
   */
  private async markAliveMany(items: AliveFacts[]): Promise<Array<AliveRow | undefined>> {
    const write = (batch: AliveFacts[]): Promise<unknown> =>
      this.db.query(
        `UPDATE runner r SET last_heartbeat_at = now(), state = 'waiting', ip = COALESCE(v.ip, r.ip),
                usage = COALESCE(v.usage, r.usage), framework = COALESCE(v.framework, r.framework),
                framework_name = CASE WHEN v.framework IS NULL THEN r.framework_name ELSE v.framework_name END,
                system = COALESCE(v.system, r.system),
                container = v.container, executors = v.executors, default_image = v.default_image,
                can_shell = v.can_shell, can_container = v.can_container
         FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[], $5::text[], $6::jsonb[],
                     $7::jsonb[], $8::jsonb[], $9::text[], $10::boolean[], $11::boolean[])
              AS v(id, ip, usage, framework, framework_name, system, container, executors, default_image, can_shell, can_container)
         WHERE r.id = v.id AND r.deregistered_at IS NULL
         RETURNING r.id, r.enabled, r.labels, r.framework_name, r.res_cpu, r.res_memory, r.res_disk, r.namespaces, r.can_shell, r.can_container`,
        [
          batch.map((f) => f.id),
          batch.map((f) => f.ip),
          batch.map((f) => f.usage),
          batch.map((f) => f.framework),
          batch.map((f) => f.frameworkName),
          batch.map((f) => f.system),
          batch.map((f) => f.caps.container),
          batch.map((f) => f.caps.executors),
          batch.map((f) => f.caps.defaultImage),
          batch.map((f) => f.caps.canShell),
          batch.map((f) => f.caps.canContainer),
        ],
      );
    let rows: Array<AliveRow & { id: string }>;
    try {
      rows = returned(await write(items));
    } catch (err) {
      if (items.length === 1) throw err;
      rows = [];
      for (const item of items) rows.push(...returned<AliveRow & { id: string }>(await write([item])));
    }
    const byId = new Map(rows.map((r) => [r.id, r]));
    return items.map((f) => byId.get(f.id));
  }

  private async anyWaiting(): Promise<boolean> {
    const rows: Array<{ any: boolean }> = await this.db.query(`SELECT EXISTS (SELECT 1 FROM run WHERE state = 'waiting') AS any`);
    return rows[0]?.any === true;
  }

  private async stillActive(runnerId: string): Promise<boolean> {
    const rows: unknown[] = await this.db.query(
      `SELECT 1 FROM runner WHERE id = $1 AND enabled AND deregistered_at IS NULL`,
      [runnerId],
    );
    return rows.length > 0;
  }

  /**
   * Marks the runner alive at the end of its long poll. Polls end in waves (10,000 runners
   * polling every few seconds), so the writes are gathered and flushed as one UPDATE every
   * TOUCH_FLUSH_MS instead of one statement per poll.
   */
  private touch(runnerId: string): void {
    this.touched.add(runnerId);
    this.flushTimer ??= setTimeout(() => void this.flushTouches(), TOUCH_FLUSH_MS);
  }

  private async flushTouches(): Promise<void> {
    this.flushTimer = undefined;
    const ids = [...this.touched];
    this.touched.clear();
    if (ids.length === 0) return;
    try {
      await this.db.query(
        `UPDATE runner SET last_heartbeat_at = now(), state = 'waiting'
         WHERE id = ANY($1::uuid[]) AND deregistered_at IS NULL`,
        [ids],
      );
    } catch {
      // The database is away: the next heartbeat of each runner writes its liveness again.
    }
  }

  /** Writes what is pending before the process ends. */
  async beforeApplicationShutdown(): Promise<void> {
    clearTimeout(this.flushTimer);
    await this.flushTouches();
  }

  private announce(k: number): Promise<void> {
    return this.signal.announce(k, (sql, params) => this.db.query(sql, params));
  }
}
