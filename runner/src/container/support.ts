/**
 * Which container engine the runner drives, and what it tells the orchestrator about it
 * (SPEC section 9): `--container-engine auto|off|unix:///path`, `--executors`, `--default-image`.
 *
 * - `auto` tries DOCKER_HOST (a unix:// one), /var/run/docker.sock, /run/podman/podman.sock, in
 *   that order, and takes the first that answers a ping. `off`: no engine.
 * - Executors by default: `shell`, plus `container` when an engine answered at start.
 * - Every heartbeat carries the facts with `healthy` = the last ping worked; the version facts
 *   are read again once an engine that was down answers.
 */
import { existsSync } from 'node:fs';
import type { Capabilities, ContainerFacts, Executor } from '../api-client';
import { errorMessage, type Logger } from '../logger';
import { Engine, type EngineVersion } from './engine';

export const AUTO_SOCKETS = ['/var/run/docker.sock', '/run/podman/podman.sock'];

/** What the user asked for (config.ts validated it). */
export interface ContainerChoice {
  /** 'auto', 'off' or a unix:///path. */
  engine: string;
  /** DOCKER_HOST as read at boot. */
  dockerHost?: string;
  /** Undefined: the default (shell, plus container when an engine answers). */
  executors?: Executor[];
  defaultImage?: string;
}

/** Pings are quick on a local socket; a hung engine must not hold a heartbeat for long. */
const PING_TIMEOUT_MS = 5000;

export class ContainerSupport {
  private version?: EngineVersion;
  private healthy = false;

  private constructor(
    readonly engine: Engine | undefined,
    readonly executors: Executor[],
    readonly defaultImage: string | undefined,
  ) {}

  /**
   * Finds the engine and settles the executors. Throws (a sentence for the user) when the
   * container executor is asked for explicitly and no engine can be had.
   */
  static async discover(choice: ContainerChoice, logger: Logger): Promise<ContainerSupport> {
    let engine: Engine | undefined;
    let answered = false;
    if (choice.engine === 'auto') {
      for (const candidate of autoCandidates(choice.dockerHost)) {
        const e = new Engine(candidate);
        if (await e.ping({ timeoutMs: PING_TIMEOUT_MS }).catch(() => false)) {
          engine = e;
          answered = true;
          break;
        }
      }
    } else if (choice.engine !== 'off') {
      const address = Engine.parseAddress(choice.engine);
      if (!address) throw new Error(`--container-engine must be auto, off or unix:///path (got '${choice.engine}')`);
      engine = new Engine(address);
      answered = await engine.ping({ timeoutMs: PING_TIMEOUT_MS }).catch(() => false);
      if (!answered) logger.warn('the container engine does not answer (yet); container runs wait until it does', { engine: choice.engine });
    }
    const executors: Executor[] = choice.executors ?? (answered ? ['shell', 'container'] : ['shell']);
    if ((executors.includes('container') || choice.defaultImage) && !engine) {
      throw new Error(
        choice.engine === 'off'
          ? 'the container executor and --default-image need a container engine, but --container-engine is off'
          : 'the container executor and --default-image need a container engine, and none answered (tried DOCKER_HOST, /var/run/docker.sock, /run/podman/podman.sock); pass --container-engine unix:///path',
      );
    }
    const support = new ContainerSupport(engine, executors, choice.defaultImage);
    if (engine) {
      await support.refresh(logger);
      if (support.version) logger.info('container engine', { socket: engine.address.socketPath, ...support.version, executors: executors.join(',') });
    }
    return support;
  }

  /** The fields of a registration or heartbeat: pings the engine first. */
  async capabilities(logger?: Logger): Promise<Capabilities> {
    if (this.engine) await this.refresh(logger);
    return {
      ...(this.engine && this.version && { container: this.facts() }),
      executors: this.executors,
      ...(this.defaultImage && { defaultImage: this.defaultImage }),
    };
  }

  private facts(): ContainerFacts {
    const v = this.version as EngineVersion;
    return { engine: v.engine, version: v.version, apiVersion: v.apiVersion, os: v.os, arch: v.arch, healthy: this.healthy };
  }

  private async refresh(logger?: Logger): Promise<void> {
    const engine = this.engine as Engine;
    const was = this.healthy;
    this.healthy = await engine.ping({ timeoutMs: PING_TIMEOUT_MS }).catch(() => false);
    if (this.healthy && (!was || !this.version)) {
      try {
        this.version = await engine.version({ timeoutMs: PING_TIMEOUT_MS });
      } catch (err) {
        logger?.warn('cannot read the container engine version', { error: errorMessage(err) });
      }
    }
    if (was && !this.healthy) logger?.warn('the container engine stopped answering', { socket: engine.address.socketPath });
    if (!was && this.healthy && this.version) logger?.debug('the container engine answers', { socket: engine.address.socketPath });
    // Facts are sent only once known; an engine never seen healthy still reports as unhealthy.
    this.version ??= this.healthy ? undefined : { engine: 'unknown', version: 'unknown', apiVersion: 'unknown', os: 'unknown', arch: 'unknown' };
  }
}

function autoCandidates(dockerHost: string | undefined): Array<{ socketPath: string }> {
  const out: Array<{ socketPath: string }> = [];
  const fromEnv = dockerHost ? Engine.parseAddress(dockerHost) : undefined;
  if (fromEnv) out.push(fromEnv);
  for (const path of AUTO_SOCKETS) if (existsSync(path)) out.push({ socketPath: path });
  return out;
}
