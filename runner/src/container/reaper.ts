/**
 * Crash safety for container runs (SPEC section 9): at start, and every 5 minutes, remove the
 * containers labelled `pulse.runner=<this runner's id>` that no run of this process is using.
 * A runner killed with `kill -9` mid-run leaves its container running; the restarted runner's
 * first sweep removes it. Containers of other runners (another `pulse.runner` label on the same
 * engine) are never touched: the engine filters by this runner's own label, and every container
 * is checked again before it is removed. Instance containers (label `pulse.instance`) are never
 * reaped: they outlive the runner process on purpose.
 */
import type { Logger } from '../logger';
import { errorMessage } from '../logger';
import { EngineError, type Engine } from './engine';

export const REAP_INTERVAL_MS = 5 * 60 * 1000;

export class Reaper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly engine: Engine,
    private readonly runnerId: string,
    /** Names of the containers in use now (ContainerSettings.inUse). */
    private readonly inUse: Set<string>,
    private readonly logger: Logger,
    private readonly intervalMs = REAP_INTERVAL_MS,
  ) {}

  /** A sweep now, then one per interval until stop(). */
  start(): Promise<number> {
    this.timer = setInterval(() => void this.sweep(), this.intervalMs);
    this.timer.unref();
    return this.sweep();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Removes this runner's unused containers; resolves with how many. Never rejects. */
  sweep(): Promise<number> {
    this.running ??= this.sweepNow().finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweepNow(): Promise<number> {
    let removed = 0;
    try {
      const mine = await this.engine.listContainers([`pulse.runner=${this.runnerId}`]);
      for (const c of mine) {
        if (c.Labels?.['pulse.runner'] !== this.runnerId) continue; // never another runner's
        if (c.Labels['pulse.instance'] !== undefined) continue; // an instance's: kept running across restarts (SPEC section 10)
        const name = (c.Names[0] ?? '').replace(/^\//, '');
        if (this.inUse.has(name)) continue;
        try {
          await this.engine.removeContainer(c.Id);
          removed++;
          this.logger.info('removed a leftover container of this runner', { container: name, run: c.Labels['pulse.run'], state: c.State });
        } catch (err) {
          if (err instanceof EngineError && err.notFound) continue;
          this.logger.warn('could not remove a leftover container', { container: name, error: errorMessage(err) });
        }
      }
    } catch (err) {
      this.logger.warn('could not list leftover containers', { error: errorMessage(err) });
    }
    return removed;
  }
}
