/**
 * The runner's half of workloads and instances (SPEC section 10): long-running containers the
 * orchestrator wants on this runner, kept as the whole desired list of each heartbeat answer says,
 * like a Nomad client keeps the allocations its blocking queries bring.
 *
 * - Every heartbeat answer that carries `instances` is the whole list: what is missing is made
 *   and started, what should be stopped is stopped (its container kept), and every container of
 *   this runner's that the list leaves out is removed. A lost answer changes nothing: the next one
 *   carries the list again, and converging twice on the same list does nothing the second time.
 * - Every heartbeat reports every instance held, with its status, published ports (with this
 *   host's address), restarts and the generation of the entry its container was made from.
 * - A container that exits on its own is CRASHED and started again after 15 s, at most twice in
 *   30 minutes; the third crash is FAILED (a PATCH to RUNNING makes a new generation, which is
 *   made afresh). The exit is seen through the engine's `wait`, not by polling.
 * - Containers are named `pulse-instance-<id>` and labelled `pulse.instance`, `pulse.runner`
 *   and `pulse.generation`. On start the runner adopts the containers labelled with its own id
 *   (running ones keep running, untouched) before its first report; containers of other runners
 *   are never touched, even on a shared engine.
 * - Each instance's engine work runs one step at a time (a queue per instance); steps of
 *   different instances run side by side. A status change calls `onChange` so the runner reports
 *   it at once instead of at its next heartbeat.
 */
import { networkInterfaces } from 'node:os';
import type { DesiredInstance, InstanceReport, InstanceState } from '../api-client';
import { errorMessage, type Logger } from '../logger';
import { EngineError, EngineUnavailable, type ContainerCreate, type ContainerInspect, type Engine } from './engine';
import { PullLog, type PullPolicy } from './executor';

/** Seconds a crashed instance waits before it is started again (SPEC section 10). */
export const RESTART_DELAY_MS = 15_000;
/** Restarts allowed within RESTART_WINDOW_MS; the crash after them is FAILED. */
export const MAX_RESTARTS = 2;
export const RESTART_WINDOW_MS = 30 * 60_000;
/** TERM, then KILL after this many seconds, when an instance is stopped or removed. */
export const STOP_GRACE_SECONDS = 10;
/** A wait on a container the engine dropped is tried again after this long. */
const REWATCH_MS = 5_000;

export function instanceContainerName(id: string): string {
  return `pulse-instance-${id}`;
}

export interface InstanceKeeperOptions {
  engine: Engine;
  runnerId: string;
  pullPolicy: PullPolicy;
  /** `--container-network`. */
  network?: string;
  /** The address reported with published ports; default: this host's first non-internal IPv4. */
  address?: string;
  logger: Logger;
  restartDelayMs?: number;
  now?: () => number;
}

interface Held {
  id: string;
  /** The last desired entry for it; undefined for a container adopted and not yet in a list. */
  desired?: DesiredInstance;
  /** The generation of the container held (or being made). */
  generation: number;
  containerId?: string;
  status: InstanceState;
  description?: string;
  /** As published: "32768:8080". */
  ports: string[];
  restarts: number;
  /** When the restarts of the window were done. */
  restartTimes: number[];
  restartTimer?: NodeJS.Timeout;
  /** The runner itself is stopping or removing it: its exit is not a crash. */
  stopping: boolean;
  /** The container a `wait` is outstanding on. */
  watching?: string;
  /** Steps of this instance, one at a time. */
  queue: Promise<void>;
  /** A converge is queued and has not started: another one would do the same. */
  convergeQueued: boolean;
  /** Left out of the list: being removed. */
  removing: boolean;
}

export class InstanceKeeper {
  private readonly held = new Map<string, Held>();
  private adopted = false;
  private adopting?: Promise<boolean>;
  private readonly restartDelayMs: number;
  private readonly now: () => number;
  private readonly address: string | undefined;
  private listener?: () => void;

  constructor(private readonly options: InstanceKeeperOptions) {
    this.restartDelayMs = options.restartDelayMs ?? RESTART_DELAY_MS;
    this.now = options.now ?? Date.now;
    this.address = options.address ?? hostAddress();
  }

  /**
   * What the heartbeat reports: every instance held, or undefined until this runner's containers
   * have been adopted (an engine that does not answer yet): the orchestrator then keeps what it
   * knew instead of reading "holds nothing".
   */
  async reports(): Promise<InstanceReport[] | undefined> {
    if (!this.adopted && !(await this.adopt())) return undefined;
    return [...this.held.values()].map((h) => ({
      id: h.id,
      status: h.status,
      ...(h.description !== undefined && { description: h.description }),
      ...(this.address && { ip: this.address }),
      ports: h.ports,
      restarts: h.restarts,
      generation: h.generation,
    }));
  }

  /**
   * Takes over the containers of this runner's instances that are already there (a restart of
   * the runner, even after `kill -9`): running ones keep running and are watched again. Once.
   */
  adopt(): Promise<boolean> {
    if (this.adopted) return Promise.resolve(true);
    this.adopting ??= this.adoptNow().finally(() => (this.adopting = undefined));
    return this.adopting;
  }

  private async adoptNow(): Promise<boolean> {
    const { engine, runnerId, logger } = this.options;
    try {
      const mine = await engine.listContainers([`pulse.runner=${runnerId}`]);
      for (const c of mine) {
        const labels = c.Labels ?? {};
        const id = labels['pulse.instance'];
        if (labels['pulse.runner'] !== runnerId || id === undefined || this.held.has(id)) continue;
        const info = await engine.inspectContainer(c.Id);
        const running = info.State.Running;
        const held = this.newHeld(id, Number(labels['pulse.generation'] ?? 0) || 0);
        held.containerId = info.Id;
        held.status = running ? 'RUNNING' : 'STOPPED';
        held.description = running ? 'running (adopted after the runner restarted)' : `stopped (exit code ${info.State.ExitCode})`;
        held.ports = running ? publishedPorts(info) : [];
        this.held.set(id, held);
        if (running) this.watch(held, info.Id);
        logger.info('adopted an instance container', { instance: id, container: instanceContainerName(id), state: held.status });
      }
      this.adopted = true;
      return true;
    } catch (err) {
      logger.warn('cannot list the instance containers of this runner yet', { error: errorMessage(err) });
      return false;
    }
  }

  /** Converges on the whole desired list of a heartbeat answer. Never waits for the engine. */
  reconcile(list: DesiredInstance[]): void {
    if (!this.adopted) return; // not reported yet either: the next answer carries the list again
    const wanted = new Set<string>();
    for (const d of list) {
      wanted.add(d.id);
      let held = this.held.get(d.id);
      if (!held) {
        held = this.newHeld(d.id, d.generation);
        held.status = d.state === 'RUNNING' ? 'STARTING' : 'STOPPED';
        held.description = d.state === 'RUNNING' ? 'starting' : 'stopped (never started)';
        this.held.set(d.id, held);
        this.changed();
      }
      if (held.removing) continue; // its removal ends first; the next list starts it again
      held.desired = d;
      if (!this.converged(held)) this.converge(held);
    }
    for (const held of this.held.values()) {
      if (!wanted.has(held.id) && !held.removing) this.remove(held);
    }
  }

  /** Ids and statuses held now (tests, logs). */
  snapshot(): Array<{ id: string; status: InstanceState; containerId?: string }> {
    return [...this.held.values()].map((h) => ({ id: h.id, status: h.status, containerId: h.containerId }));
  }

  /** Called after every status change (the runner then reports at once). */
  onChange(listener: () => void): void {
    this.listener = listener;
  }

  /** Stops the restart timers (the runner is exiting; the containers stay). */
  close(): void {
    for (const held of this.held.values()) clearTimeout(held.restartTimer);
  }

  private newHeld(id: string, generation: number): Held {
    return { id, generation, status: 'STOPPED', ports: [], restarts: 0, restartTimes: [], stopping: false, queue: Promise.resolve(), convergeQueued: false, removing: false };
  }

  /** True when nothing is to be done for its desired entry (checked without the engine). */
  private converged(held: Held): boolean {
    const d = held.desired;
    if (!d) return true;
    if (d.generation !== held.generation) return false;
    if (d.state === 'STOPPED') return held.status === 'STOPPED' || held.status === 'FAILED';
    // RUNNING: a crashed one waits for its restart timer; a failed one for a new generation.
    return (held.status === 'RUNNING' && held.containerId !== undefined) || held.status === 'CRASHED' || held.status === 'FAILED';
  }

  private converge(held: Held): void {
    if (held.convergeQueued) return;
    held.convergeQueued = true;
    this.step(held, async () => {
      held.convergeQueued = false;
      if (held.removing || this.converged(held)) return;
      const d = held.desired as DesiredInstance;
      if (d.generation !== held.generation) {
        // A new generation (a retry after FAILED, a changed image or environment): made afresh.
        clearTimeout(held.restartTimer);
        if (held.containerId !== undefined || held.status !== 'STOPPED') await this.removeContainer(held);
        held.generation = d.generation;
        held.restarts = 0;
        held.restartTimes = [];
        this.set(held, d.state === 'RUNNING' ? 'STARTING' : 'STOPPED', d.state === 'RUNNING' ? 'starting (changed)' : 'stopped');
      }
      if (d.state === 'RUNNING') await this.start(held, d);
      else await this.stop(held);
    });
  }

  /** Runs `work` after the instance's earlier steps; an error is logged, never thrown. */
  private step(held: Held, work: () => Promise<void>): void {
    held.queue = held.queue.then(work).catch((err: unknown) => {
      this.options.logger.error('instance step failed', { instance: held.id, error: errorMessage(err) });
    });
  }

  private set(held: Held, status: InstanceState, description: string): void {
    if (held.status === status && held.description === description) return;
    held.status = status;
    held.description = description;
    this.options.logger.info('instance', { instance: held.id, status, description });
    this.changed();
  }

  private changed(): void {
    this.listener?.();
  }

  /** Makes (if needed) and starts its container; RUNNING, or FAILED with the engine's reason. */
  private async start(held: Held, d: DesiredInstance): Promise<void> {
    const { engine } = this.options;
    held.stopping = false;
    if (held.status !== 'STARTING') this.set(held, 'STARTING', 'starting');
    try {
      if (held.containerId === undefined) {
        if (!(await this.ensureImage(held, d))) return;
        held.containerId = await this.create(held, d);
      }
      const id = held.containerId;
      await engine.startContainer(id);
      const info = await engine.inspectContainer(id);
      if (!info.State.Running) {
        // Exited at once: a crash like any other (the command failed straight away).
        held.ports = [];
        this.crashed(held, info.State.ExitCode);
        return;
      }
      held.ports = publishedPorts(info);
      this.set(held, 'RUNNING', `running in container ${instanceContainerName(held.id)}`);
      this.watch(held, id);
    } catch (err) {
      if (err instanceof EngineError && err.notFound && held.containerId !== undefined) {
        // Removed behind the runner's back: made again on the next step.
        held.containerId = undefined;
        this.set(held, 'STARTING', 'its container was removed outside Pulse; making it again');
        this.converge(held);
        return;
      }
      if (err instanceof EngineUnavailable || err instanceof NameTaken) {
        // Not the instance's fault: the next heartbeat answer tries again.
        this.set(held, 'STARTING', `waiting: ${errorMessage(err)}`);
        return;
      }
      this.set(held, 'FAILED', `could not start: ${errorMessage(err)}`);
    }
  }

  /** Pulls per policy; false (FAILED, with why) when the image cannot be had. */
  private async ensureImage(held: Held, d: DesiredInstance): Promise<boolean> {
    const { engine, pullPolicy } = this.options;
    if (pullPolicy !== 'always' && (await engine.inspectImage(d.uri))) return true;
    if (pullPolicy === 'never') {
      this.set(held, 'FAILED', `image ${d.uri} is not present on the engine and the pull policy is "never"`);
      return false;
    }
    this.set(held, 'STARTING', `pulling image ${d.uri}`);
    const progress = new PullLog((line) => this.options.logger.debug('instance image', { instance: held.id, line }));
    await engine.pullImage(d.uri, (p) => progress.add(p), { timeoutMs: 0 });
    return true;
  }

  private async create(held: Held, d: DesiredInstance): Promise<string> {
    const { engine, runnerId, network } = this.options;
    const name = instanceContainerName(held.id);
    const bindings: Record<string, Array<{ HostPort: string }>> = {};
    const exposed: Record<string, Record<string, never>> = {};
    for (const port of d.ports) {
      const [host, container] = port.includes(':') ? port.split(':') : ['', port];
      exposed[`${container}/tcp`] = {};
      (bindings[`${container}/tcp`] ??= []).push({ HostPort: host });
    }
    const { cpu, memory } = d.resources;
    const body: ContainerCreate = {
      Image: d.uri,
      ...(d.command && d.command.length > 0 && { Cmd: d.command }),
      Env: d.environment,
      Labels: { 'pulse.runner': runnerId, 'pulse.instance': held.id, 'pulse.generation': String(held.generation), 'pulse.name': d.name },
      ExposedPorts: exposed,
      HostConfig: {
        Init: true,
        PortBindings: bindings,
        RestartPolicy: { Name: 'no' }, // restarts are the runner's, counted and reported
        ...(memory > 0 && { Memory: memory * 1024 * 1024, MemorySwap: memory * 1024 * 1024 }),
        ...(cpu > 0 && { CpuPeriod: 100_000, CpuQuota: Math.round(cpu * 100_000) }),
        ...(network && { NetworkMode: network }),
      },
    };
    try {
      return await engine.createContainer(name, body);
    } catch (err) {
      if (!(err instanceof EngineError && (err.conflict || /already in use|name.*in use/i.test(err.message)))) throw err;
      // The name is taken. Ours (an earlier generation the list no longer wants): removed and made
      // again. Another runner's on the same engine (this instance was placed again after that
      // runner was lost): left alone; that runner removes it when it comes back.
      const other = await engine.inspectContainer(name).catch(() => undefined);
      const owner = other?.Config.Labels?.['pulse.runner'];
      if (other && owner !== runnerId) throw new NameTaken(`container ${name} belongs to runner ${owner ?? '(no pulse.runner label)'}`);
      await engine.removeContainer(name).catch(() => undefined);
      return engine.createContainer(name, body);
    }
  }

  /** Watches a running container until it exits; an exit the runner did not cause is a crash. */
  private watch(held: Held, containerId: string): void {
    if (held.watching === containerId) return;
    held.watching = containerId;
    this.options.engine.waitContainer(containerId).then(
      (exitCode) => {
        held.watching = undefined;
        if (held.containerId !== containerId || held.stopping || held.removing) return;
        this.step(held, async () => {
          if (held.containerId !== containerId || held.stopping || held.removing || held.status !== 'RUNNING') return;
          // `wait` can answer early on some engines: believe the container's own state.
          const info = await this.options.engine.inspectContainer(containerId).catch(() => undefined);
          if (info?.State.Running) {
            this.watch(held, containerId);
            return;
          }
          held.ports = [];
          this.crashed(held, info?.State.ExitCode ?? exitCode);
        });
      },
      (err: unknown) => {
        held.watching = undefined;
        if (held.containerId !== containerId || held.removing) return;
        if (err instanceof EngineError && err.notFound) {
          this.step(held, () => {
            if (held.containerId === containerId) {
              held.containerId = undefined;
              held.ports = [];
              if (held.desired?.state === 'RUNNING' && !held.stopping) this.crashed(held, undefined);
            }
            return Promise.resolve();
          });
          return;
        }
        // The engine dropped the connection (restarted?): watch again in a while.
        setTimeout(() => {
          if (held.containerId === containerId && !held.removing && held.status === 'RUNNING') this.watch(held, containerId);
        }, REWATCH_MS).unref();
      },
    );
  }

  /** An exit of its own: restarted after the delay, or FAILED once restarts ran out. */
  private crashed(held: Held, exitCode: number | undefined): void {
    if (held.desired?.state !== 'RUNNING' || held.stopping || held.removing) return;
    const now = this.now();
    held.restartTimes = held.restartTimes.filter((t) => now - t < RESTART_WINDOW_MS);
    const why = exitCode === undefined ? 'its container disappeared' : `exited with code ${exitCode}`;
    if (held.restartTimes.length >= MAX_RESTARTS) {
      this.set(held, 'FAILED', `${why}: crashed ${MAX_RESTARTS + 1} times in ${RESTART_WINDOW_MS / 60_000} minutes, not restarted again (PATCH state RUNNING to retry)`);
      return;
    }
    const seconds = Math.round(this.restartDelayMs / 1000);
    this.set(held, 'CRASHED', `${why}; restarting in ${seconds} s (restart ${held.restartTimes.length + 1} of ${MAX_RESTARTS} in ${RESTART_WINDOW_MS / 60_000} minutes)`);
    clearTimeout(held.restartTimer);
    const generation = held.generation;
    held.restartTimer = setTimeout(() => {
      held.restartTimer = undefined;
      this.step(held, async () => {
        const d = held.desired;
        if (!d || held.removing || held.status !== 'CRASHED' || held.generation !== generation || d.state !== 'RUNNING') return;
        held.restartTimes.push(this.now());
        held.restarts++;
        await this.start(held, d);
      });
    }, this.restartDelayMs);
    held.restartTimer.unref();
  }

  /** Stops its container (kept); STOPPED. */
  private async stop(held: Held): Promise<void> {
    clearTimeout(held.restartTimer);
    held.stopping = true;
    if (held.containerId === undefined) {
      this.set(held, 'STOPPED', 'stopped');
      return;
    }
    this.set(held, 'STOPPING', 'stopping');
    try {
      await this.stopContainer(held.containerId);
    } catch (err) {
      if (err instanceof EngineError && err.notFound) held.containerId = undefined;
      else {
        this.set(held, 'STOPPING', `could not stop yet: ${errorMessage(err)}`);
        return; // the next answer tries again
      }
    }
    held.ports = [];
    this.set(held, 'STOPPED', 'stopped');
  }

  /** Left out of the list: stopped and removed, then no longer reported. */
  private remove(held: Held): void {
    held.removing = true;
    held.stopping = true;
    clearTimeout(held.restartTimer);
    this.step(held, async () => {
      if (held.status !== 'STOPPED') this.set(held, 'STOPPING', 'being removed');
      try {
        await this.removeContainer(held);
      } catch (err) {
        held.removing = false; // tried again on the next answer that leaves it out
        this.options.logger.warn('could not remove an instance container', { instance: held.id, error: errorMessage(err) });
        return;
      }
      if (this.held.get(held.id) === held) this.held.delete(held.id);
      this.options.logger.info('instance removed', { instance: held.id });
      this.changed();
    });
  }

  /** Stops (with the grace) and removes its container; nothing there is fine. */
  private async removeContainer(held: Held): Promise<void> {
    held.stopping = true;
    const target = held.containerId ?? instanceContainerName(held.id);
    const { engine, runnerId } = this.options;
    if (held.containerId === undefined) {
      // Only by name: make sure it is this runner's before touching it.
      const info = await engine.inspectContainer(target).catch((err: unknown) => {
        if (err instanceof EngineError && err.notFound) return undefined;
        throw err;
      });
      if (!info || info.Config.Labels?.['pulse.runner'] !== runnerId) return;
    }
    try {
      await this.stopContainer(target);
      await engine.removeContainer(target);
    } catch (err) {
      if (!(err instanceof EngineError && err.notFound)) throw err;
    }
    held.containerId = undefined;
    held.ports = [];
    held.stopping = false;
  }

  private async stopContainer(target: string): Promise<void> {
    try {
      await this.options.engine.stopContainer(target, STOP_GRACE_SECONDS);
    } catch (err) {
      if (err instanceof EngineError && err.conflict) return; // not running
      throw err;
    }
  }
}

/** A container of the instance's name that belongs to another runner: not ours to touch. */
class NameTaken extends Error {}

/** Published ports as "host:container", from an inspect. */
export function publishedPorts(info: ContainerInspect): string[] {
  const out: string[] = [];
  for (const [key, bindings] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
    const container = key.replace(/\/.*$/, '');
    for (const b of bindings ?? []) {
      if (b.HostPort) out.push(`${b.HostPort}:${container}`);
    }
  }
  return [...new Set(out)];
}

/** This host's first non-internal IPv4 address, where published ports can be reached. */
export function hostAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
