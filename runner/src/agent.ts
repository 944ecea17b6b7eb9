/**
 * The poll loop. The orchestrator never calls the runner: everything it has to say arrives in
 * heartbeat answers, so the loop is the runner's only ear.
 *
 * - Ready (no run): the heartbeat is long-polled (`wait`), so work arrives the moment it is
 *   submitted; the request timeout is longer than the wait.
 * - Busy: heartbeats list the run in `runs` (they renew the lease and acknowledge the run) and
 *   bring cancels. They are long-polled too (`wait`, SPEC section 13): the orchestrator answers
 *   at once when the run is canceled or times out, else after at most half its RUNNER_DEAD_AFTER,
 *   and the next one follows at once, so a cancel reaches a silent script within a second and a
 *   busy runner makes no more requests than one per `interval`. A finished run ends the poll.
 * - Between heartbeats: the server's `interval` minus the time the last one took, plus random
 *   jitter, so a fleet never polls in step. A finished run triggers the next heartbeat at once.
 * - Outages: retried with backoff, forever (retry.ts). 401/403: the runner was deregistered or
 *   its token is wrong; it stops with a non-zero exit code.
 *
 * Stopping: stop() (first SIGTERM/SIGINT) stops asking for work but keeps heartbeating while the
 * current run finishes and uploads, then run() resolves. cancel() (second signal) also cancels
 * the current run, which is reported `canceled`.
 */
import type { ApiClient, Capabilities, DesiredInstance, Framework, HeartbeatReply, HeartbeatRequest, InstanceReport, Resources, RunAssignment } from './api-client';
import { AbortedError, type HttpError } from './http';
import { Job, type JobOptions } from './job';
import { errorMessage, redactUrl, type Logger } from './logger';
import { isAuthFailure, retry, sleep, type RetryPolicy } from './retry';

export interface AgentOptions {
  /** Long-poll seconds sent as `wait` while ready; 0 turns long polling off. */
  waitSeconds: number;
  /** Jitter: up to this fraction of the interval is added to each pause. */
  jitterFraction: number;
  /** Idle timeout of a heartbeat beyond its `wait` (ms). */
  heartbeatTimeoutMarginMs: number;
  /** Interval to use when the server's answer lacks one (s). */
  defaultIntervalSeconds: number;
  retry: RetryPolicy;
  job: JobOptions;
  random?: () => number;
}

export interface AgentExit {
  code: number;
  /** Why the runner stopped with a non-zero code. */
  reason?: string;
}

export interface AgentIdentity {
  runnerId: string;
  framework: Framework;
  /** Current resource use for the heartbeat; undefined to leave it out. */
  usage?: () => Promise<Resources | undefined>;
  /** The container facts, executors and default image for the heartbeat (SPEC section 9). */
  capabilities?: () => Promise<Capabilities>;
  /** The instances this runner keeps (SPEC section 10); absent without a container engine. */
  instances?: InstanceHolder;
}

/** What the loop needs of the instance keeper (container/instances.ts). */
export interface InstanceHolder {
  /** Every instance held, for the heartbeat; undefined while they are not known yet. */
  reports(): Promise<InstanceReport[] | undefined>;
  /** The whole desired list of an answer. */
  reconcile(list: DesiredInstance[]): void;
}

export class Agent {
  private job?: Job;
  private jobDone?: Promise<void>;
  private stopping = false;
  private fatal?: string;
  /** Aborts the heartbeat or pause in flight (stop, fatal). */
  private poll = new AbortController();
  /** The heartbeat in flight is a long poll (a nudge may cut it short). */
  private longPolling = false;
  /** Something to report (an instance changed): the next heartbeat goes at once. */
  private dirty = false;
  private pausing = false;
  private readonly random: () => number;

  constructor(
    private readonly api: ApiClient,
    private readonly identity: AgentIdentity,
    private readonly options: AgentOptions,
    private readonly logger: Logger,
  ) {
    this.random = options.random ?? Math.random;
  }

  /** The run in progress, if any. */
  get currentRun(): string | undefined {
    return this.job?.id;
  }

  /** Graceful: no new work; the current run finishes and is uploaded, then run() resolves. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.logger.info(this.job ? 'stopping after the current run' : 'stopping', { run: this.job?.id });
    this.interrupt();
  }

  /** Hard: stop, and cancel the current run (reported as `canceled`). */
  cancel(): void {
    this.stopping = true;
    if (this.job) {
      this.logger.info('canceling the current run', { run: this.job.id });
      this.job.cancel();
    }
    this.interrupt();
  }

  /**
   * Something the orchestrator should hear now (an instance's status changed): a held long poll
   * is cut short, or the pause ends, and the next heartbeat reports it. A heartbeat that is not a
   * long poll is left to finish (its answer may carry a run), and the next one follows at once.
   */
  nudge(): void {
    this.dirty = true;
    if (this.longPolling || this.pausing) this.interrupt();
  }

  /** The runner is about to exit without waiting: leave no process of the run behind. */
  killNow(): void {
    this.job?.killNow();
  }

  async run(): Promise<AgentExit> {
    this.logger.info('runner started', { runner: this.identity.runnerId });
    while (!this.fatal && !(this.stopping && !this.job)) {
      const started = Date.now();
      const busyWait = this.job !== undefined && this.options.waitSeconds > 0;
      const reply = await this.heartbeat();
      this.longPolling = false;
      if (this.fatal) break;
      if (!reply) continue;
      if (reply.token) await this.rotate(reply.token.value);
      const before = this.job;
      this.handle(reply);
      if (this.dirty) continue; // a change to report: at once
      // A run just taken: the busy poll starts at once (it also acknowledges the run).
      if (!before && this.job && this.options.waitSeconds > 0) continue;
      const elapsed = Date.now() - started;
      // A busy poll the orchestrator held (to its end: it did not say anything) is followed by the
      // next one at once; one answered early, or by an orchestrator without busy polls, paces as usual.
      if (busyWait && this.job && elapsed >= (Math.min(this.options.waitSeconds, reply.interval) * 1000) / 2) continue;
      await this.pause(this.delayAfter(reply, elapsed));
    }
    await this.jobDone;
    if (this.fatal) {
      this.logger.error(this.fatal, { runner: this.identity.runnerId });
      return { code: 1, reason: this.fatal };
    }
    this.logger.info('runner stopped', { runner: this.identity.runnerId });
    return { code: 0 };
  }

  /** One heartbeat, retried through outages. Undefined when interrupted or refused. */
  private async heartbeat(): Promise<HeartbeatReply | undefined> {
    const job = this.job;
    const longPoll = (job !== undefined || !this.stopping) && this.options.waitSeconds > 0;
    const body: HeartbeatRequest = {
      id: this.identity.runnerId,
      status: job ? 'busy' : 'ready',
      framework: this.identity.framework,
      runs: job ? [job.id] : [],
    };
    const usage = await this.identity.usage?.().catch(() => undefined);
    if (usage) body.usage = usage;
    const capabilities = await this.identity.capabilities?.().catch(() => undefined);
    if (capabilities) Object.assign(body, capabilities);
    const instances = await this.identity.instances?.reports().catch(() => undefined);
    if (instances) body.instances = instances;
    // Reported from here on; a change after this point sets it again.
    this.dirty = false;
    if (longPoll) body.wait = this.options.waitSeconds;
    const timeoutMs = (longPoll ? this.options.waitSeconds * 1000 : 0) + this.options.heartbeatTimeoutMarginMs;
    // Interrupted by a stop, a fatal error, or the end of the run: the loop then heartbeats again
    // at once (a busy runner keeps renewing its lease).
    const signal = this.poll.signal;
    this.longPolling = longPoll;
    try {
      return await retry(() => this.api.heartbeat(body, { timeoutMs, signal }), {
        policy: this.options.retry,
        signal,
        random: this.random,
        onRetry: (err, attempt, delayMs) =>
          this.logger.warn('heartbeat failed; retrying', { error: errorMessage(err), attempt: attempt + 1, delayMs }),
      });
    } catch (err) {
      this.longPolling = false;
      if (err instanceof AbortedError) {
        this.poll = new AbortController();
        return undefined;
      }
      if (isAuthFailure(err)) {
        this.fail(err);
        return undefined;
      }
      // Another 4xx: a bug on one side or the other. Say so, and try again later.
      this.logger.error('heartbeat refused', { error: errorMessage(err) });
      await this.pause(this.options.retry.maxMs, true);
      return undefined;
    }
  }

  /**
   * A new token was offered: saved to the config first, then used (credentials.ts). If it cannot
   * be saved, the runner keeps its current token and the next heartbeat offers another.
   */
  private async rotate(offered: string): Promise<void> {
    const credentials = this.api.credentials;
    if (!credentials) return;
    try {
      if (await credentials.adopt(offered)) this.logger.info('runner token rotated', { runner: this.identity.runnerId });
    } catch (err) {
      this.logger.error('cannot save the new runner token; keeping the current one', { error: errorMessage(err) });
    }
  }

  private handle(reply: HeartbeatReply): void {
    if (this.job && reply.cancel.includes(this.job.id)) {
      this.logger.info('cancel received', { run: this.job.id });
      this.job.cancel();
    }
    if (reply.invalidRun) this.logger.error('ignoring an unusable run assignment', { error: reply.invalidRun });
    if (reply.run) this.accept(reply.run);
    if (reply.invalidInstances) this.logger.error('ignoring an unusable instance list (nothing is changed)', { error: reply.invalidInstances });
    if (reply.instances) this.identity.instances?.reconcile(reply.instances);
  }

  private accept(run: RunAssignment): void {
    if (this.job) {
      if (run.id !== this.job.id) this.logger.warn('ignoring a run offered while busy', { run: run.id, current: this.job.id });
      return;
    }
    if (this.stopping) {
      // Not acknowledged: the orchestrator offers it to another runner.
      this.logger.info('stopping: leaving an offered run to another runner', { run: run.id });
      return;
    }
    const job = new Job(run, this.api, this.identity.runnerId, this.options.job, this.logger, {
      onFatal: (err) => this.fail(err),
    });
    this.job = job;
    this.jobDone = job
      .run()
      .then((outcome) => {
        if (outcome.kind === 'dropped') this.logger.debug('run dropped', { run: run.id, reason: outcome.reason });
      })
      .catch((err: unknown) => this.logger.error('run crashed', { run: run.id, repo: redactUrl(run.repo), error: errorMessage(err) }))
      .finally(() => {
        this.job = undefined;
        this.interrupt(); // ready again: poll now
      });
  }

  /** The server's interval minus the time already spent, plus jitter. */
  private delayAfter(reply: HeartbeatReply, elapsedMs: number): number {
    const interval = (Number.isFinite(reply.interval) && reply.interval >= 0 ? reply.interval : this.options.defaultIntervalSeconds) * 1000;
    const jitter = this.random() * interval * this.options.jitterFraction;
    return Math.max(0, interval - elapsedMs) + jitter;
  }

  /** Waits `ms` unless interrupted (a run ended, a stop, a fatal error). */
  private async pause(ms: number, evenIfDirty = false): Promise<void> {
    if (this.dirty && !evenIfDirty) return;
    this.pausing = !evenIfDirty;
    try {
      await sleep(ms, this.poll.signal);
    } catch (err) {
      if (!(err instanceof AbortedError)) throw err;
      this.poll = new AbortController();
    } finally {
      this.pausing = false;
    }
  }

  private interrupt(): void {
    this.poll.abort();
  }

  private fail(err: HttpError): void {
    if (this.fatal) return;
    this.fatal =
      err.status === 403
        ? 'runner was deregistered or is not accepted by the orchestrator (403 Forbidden): register it again with `pulse-runner register`'
        : 'the orchestrator refused the runner token (401 Unauthorized): register the runner again with `pulse-runner register`';
    this.job?.drop(this.fatal);
    this.interrupt();
  }
}
