/**
 * One run's container (SPEC section 9), in small steps like gitlab-runner's docker executor:
 *
 *   image (pull per policy, progress in a few log lines) → create (named, labelled, limited) →
 *   copy the clone and the script in (archive; a 5xx is tried again) → attach → start → wait → inspect (exit code, OOM)
 *   → remove (container and volumes), always.
 *
 * - Attach comes BEFORE start: Podman loses the exit code of a container attached to after it
 *   exited, and output written before an attach would be missed.
 * - No AutoRemove: a container removed as it exits races with wait and inspect. Removal is ours,
 *   in a `finally`.
 * - Nothing of the host is mounted: the clone is copied into `/workspace` through the archive
 *   endpoint, so a job cannot leave root-owned files on the host, and the engine's socket never
 *   reaches the job.
 * - The script runs with bash when the image has it, else sh, with stderr joined to stdout
 *   inside the container: one ordered stream, as on the shell executor.
 * - Stopping (timeout, cancel, a lost run) is the engine's stop: TERM, KILL after the grace.
 */
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Resources } from '../api-client';
import { errorMessage } from '../logger';
import { Demuxer, EngineError, EngineUnavailable, type ContainerCreate, type Engine, type PullProgress } from './engine';

export type PullPolicy = 'if-not-present' | 'always' | 'never';
export const PULL_POLICIES: PullPolicy[] = ['if-not-present', 'always', 'never'];

/** Processes a run's container may hold at once (a fork bomb stops there). */
export const PIDS_LIMIT = 4096;

/** What every container run of this runner shares. */
export interface ContainerSettings {
  engine: Engine;
  pullPolicy: PullPolicy;
  /** `--container-network`; undefined: the engine's default network. */
  network?: string;
  /** `--default-image`: runs without an image run in it. */
  defaultImage?: string;
  /** Names of the containers in use now (the reaper leaves them alone). */
  inUse: Set<string>;
}

export interface ContainerRunSpec {
  runId: string;
  attempt: number;
  runnerId: string;
  image: string;
  /** The directory holding `workspace/` (the clone) and `.pulse/script.sh`. */
  contextDir: string;
  env: Record<string, string>;
  resources?: Partial<Resources>;
  /** Where the container's output goes (the log spool's raw file). */
  outputFd: number;
  /** A line of the runner's own in the log. */
  note(line: string): void;
}

export interface ContainerResult {
  exitCode?: number;
}

/** The container's command: bash when there is one, else sh; stderr joined to stdout. */
const LAUNCHER =
  'exec 2>&1; if command -v bash >/dev/null 2>&1; then exec bash /.pulse/script.sh; else exec sh /.pulse/script.sh; fi';

/** How many times the clone and the script are offered to the engine before the run fails. */
export const COPY_ATTEMPTS = 3;

/** After wait answered, how long the output stream may take to drain before we stop reading. */
const DRAIN_MS = 10_000;

export function containerName(runId: string, attempt: number): string {
  return `pulse-run-${runId}-${attempt}`;
}

export class ContainerRun {
  private id?: string;
  private stopping = false;
  private stopGraceSeconds = 10;
  private readonly name: string;
  /** Settles when stop() is called: a pull (no timeout of its own) is not waited for past it. */
  private readonly stopped: Promise<void>;
  private markStopped: () => void = () => undefined;

  constructor(
    private readonly settings: ContainerSettings,
    private readonly spec: ContainerRunSpec,
  ) {
    this.name = containerName(spec.runId, spec.attempt);
    this.stopped = new Promise((resolve) => (this.markStopped = resolve));
  }

  /** Runs the script in its container; never leaves the container behind. */
  async run(): Promise<ContainerResult> {
    const { engine } = this.settings;
    const spec = this.spec;
    this.settings.inUse.add(this.name);
    try {
      if (!(await this.ensureImage())) return {};
      if (this.stopping) return {};
      const user = await this.imageUser();
      this.id = await this.create();
      spec.note(`running in container ${this.name} (image ${spec.image})`);
      await this.copyIn(this.id, user);
      if (this.stopping) return {};
      const stream = await engine.attachContainer(this.id);
      const drained = this.pump(stream);
      await engine.startContainer(this.id);
      if (this.stopping) void this.stopNow();
      let exitCode = await engine.waitContainer(this.id);
      await Promise.race([drained, delay(DRAIN_MS)]);
      stream.destroy();
      const state = (await engine.inspectContainer(this.id)).State;
      if (typeof state.ExitCode === 'number' && state.ExitCode >= 0) exitCode = state.ExitCode;
      const limit = spec.resources?.memory;
      if (!this.stopping && (state.OOMKilled || (exitCode === 137 && limit !== undefined && limit > 0))) {
        spec.note(`the container was killed for using more memory than its limit${limit ? ` of ${limit} MiB` : ''} (out of memory); exit code 137`);
        exitCode = 137;
      }
      return { exitCode };
    } catch (err) {
      if (!this.stopping) spec.note(`the container failed: ${errorMessage(err)}`);
      return {};
    } finally {
      await this.remove();
      this.settings.inUse.delete(this.name);
    }
  }

  /** TERM now, KILL after the grace (the engine's stop does both). Idempotent. */
  stop(graceSeconds: number): void {
    if (this.stopping) return;
    this.stopping = true;
    this.stopGraceSeconds = graceSeconds;
    this.markStopped();
    void this.stopNow();
  }

  /** The runner exits at once: KILL without waiting for an answer. */
  killNow(): void {
    this.stopping = true;
    if (this.id) void this.settings.engine.killContainer(this.id).catch(() => undefined);
  }

  private async stopNow(): Promise<void> {
    if (!this.id) return;
    try {
      await this.settings.engine.stopContainer(this.id, this.stopGraceSeconds);
    } catch (err) {
      // Not running any more (a conflict), or gone: nothing to stop. Else KILL.
      if (err instanceof EngineError && (err.conflict || err.notFound)) return;
      await this.settings.engine.killContainer(this.id).catch(() => undefined);
    }
  }

  /** Pulls per policy. False (after a clear log line) when the image cannot be had. */
  private async ensureImage(): Promise<boolean> {
    const { engine, pullPolicy } = this.settings;
    const image = this.spec.image;
    if (pullPolicy !== 'always') {
      const present = await engine.inspectImage(image);
      if (present) return true;
      if (pullPolicy === 'never') {
        this.spec.note(`image ${image} is not present on the engine and the pull policy is "never"`);
        return false;
      }
    }
    this.spec.note(`pulling image ${image} (pull policy ${pullPolicy})`);
    const started = Date.now();
    const progress = new PullLog((line) => this.spec.note(line));
    try {
      // A pull can take long and has no timeout; a cancel or the deadline stops waiting for it.
      await Promise.race([engine.pullImage(image, (p) => progress.add(p), { timeoutMs: 0 }), this.stopped]);
      if (this.stopping) return false;
    } catch (err) {
      this.spec.note(`cannot pull image ${image}: ${errorMessage(err)}`);
      return false;
    }
    const omitted = progress.omitted > 0 ? ` (${progress.omitted} more progress lines left out)` : '';
    this.spec.note(`pulled image ${image} in ${((Date.now() - started) / 1000).toFixed(1)}s${omitted}`);
    return true;
  }

  /** The owner of the copied files: the image's numeric user when it has one, else root. */
  private async imageUser(): Promise<{ uid: number; gid: number }> {
    const user = (await this.settings.engine.inspectImage(this.spec.image))?.Config?.User ?? '';
    const match = /^(\d+)(?::(\d+))?$/.exec(user);
    return match ? { uid: Number(match[1]), gid: Number(match[2] ?? match[1]) } : { uid: 0, gid: 0 };
  }

  private async create(): Promise<string> {
    const { engine, network } = this.settings;
    const spec = this.spec;
    const memory = spec.resources?.memory;
    const cpu = spec.resources?.cpu;
    const body: ContainerCreate = {
      Image: spec.image,
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: [LAUNCHER],
      Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
      WorkingDir: '/workspace',
      Labels: { 'pulse.runner': spec.runnerId, 'pulse.run': spec.runId, 'pulse.attempt': String(spec.attempt) },
      Tty: false,
      OpenStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: {
        Init: true,
        Privileged: false,
        PidsLimit: PIDS_LIMIT,
        ...(memory && { Memory: memory * 1024 * 1024, MemorySwap: memory * 1024 * 1024 }),
        ...(cpu && { CpuPeriod: 100_000, CpuQuota: Math.round(cpu * 100_000) }),
        ...(network && { NetworkMode: network }),
      },
    };
    try {
      return await engine.createContainer(this.name, body);
    } catch (err) {
      // A container of the same name: a leftover of this very attempt. Remove it and try once more.
      if (!(err instanceof EngineError && (err.conflict || /already in use|name.*in use/i.test(err.message)))) throw err;
      await engine.removeContainer(this.name).catch(() => undefined);
      return engine.createContainer(this.name, body);
    }
  }

  /**
   * Copies the clone and the script into the container (not started yet). A 5xx or a broken
   * connection is tried again with a fresh archive: extracting the same files again into a
   * container that has not run is harmless. Podman answers 500 "passing bulk input to
   * subprocess: write |1: broken pipe" now and then under concurrent copies (its extracting
   * subprocess can exit before the request body is fully read: buildah copier race,
   * containers/buildah#6573); a 4xx (no such container, bad path) is not retried.
   */
  private async copyIn(id: string, user: { uid: number; gid: number }): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.settings.engine.putArchive(id, '/', tarOf(this.spec.contextDir, ['workspace', '.pulse'], user));
        return;
      } catch (err) {
        const transient = err instanceof EngineUnavailable || (err instanceof EngineError && err.status >= 500);
        if (!transient || attempt >= COPY_ATTEMPTS || this.stopping) throw err;
        this.spec.note(`copying the workspace into the container failed (${errorMessage(err)}); trying again (${attempt + 1} of ${COPY_ATTEMPTS})`);
        await delay(250 * attempt);
      }
    }
  }

  /** Copies the container's output into the log file, in the order it arrives. */
  private pump(stream: Readable): Promise<void> {
    const demuxer = new Demuxer((_kind, payload) => writeSync(this.spec.outputFd, payload));
    return new Promise((resolve) => {
      stream.on('data', (chunk: Buffer) => demuxer.push(chunk));
      const done = (): void => {
        demuxer.end();
        resolve();
      };
      stream.once('end', done);
      stream.once('close', done);
      stream.once('error', done);
    });
  }

  /** Removes the container and its volumes; retried, since an engine may still be busy with it. */
  private async remove(): Promise<void> {
    const target = this.id ?? this.name;
    for (let attempt = 1; attempt <= 5; attempt++) {
      try {
        await this.settings.engine.removeContainer(target);
        return;
      } catch (err) {
        if (err instanceof EngineError && err.notFound) return;
        if (attempt === 5) {
          this.spec.note(`could not remove container ${this.name}: ${errorMessage(err)} (the runner's clean-up will)`);
          return;
        }
        await delay(500 * attempt);
      }
    }
  }
}

/**
 * Pull progress as a few lines: each layer's state changes, not every byte count. At most
 * MAX_LINES lines; the rest are counted.
 */
export class PullLog {
  private static readonly MAX_LINES = 20;
  private lines = 0;
  private skipped = 0;
  private readonly seen = new Set<string>();

  constructor(private readonly write: (line: string) => void) {}

  add(p: PullProgress): void {
    if (!p.status || p.progress || /^(Downloading|Extracting|Waiting|Verifying Checksum)$/.test(p.status)) return;
    const line = p.id ? `${p.id}: ${p.status}` : p.status;
    if (this.seen.has(line)) return;
    this.seen.add(line);
    if (this.lines >= PullLog.MAX_LINES) {
      this.skipped++;
      return;
    }
    this.lines++;
    this.write(`pull: ${line}`);
  }

  /** How many distinct state lines were left out past MAX_LINES. */
  get omitted(): number {
    return this.skipped;
  }
}

/**
 * A tar stream of `entries` under `dir`, owned by `user` (GNU tar). Records of one block: the
 * archive ends right after its two-block end marker, with none of GNU tar's default padding to
 * 10 KiB. Podman's extracting subprocess stops reading at the end marker, so padding after it
 * was written into a closed pipe: a 500 "broken pipe" (containers/buildah#6573).
 */
export function tarOf(dir: string, entries: string[], user: { uid: number; gid: number }): Readable {
  const tar = spawn('tar', ['-c', '-f', '-', '--record-size=512', '-C', dir, `--owner=${user.uid}`, `--group=${user.gid}`, '--numeric-owner', ...entries], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  tar.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  tar.once('exit', (code) => {
    if (code !== 0) tar.stdout.destroy(new Error(`tar exited with ${code}: ${stderr.trim()}`));
  });
  return tar.stdout;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
