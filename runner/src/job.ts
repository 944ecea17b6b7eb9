/**
 * One run, from assignment to result:
 *
 *   workspace (mkdtemp) → acknowledge (empty update) → git clone → bash script → result →
 *   remaining log + complete → workspace removed.
 *
 * Every process (git, bash) is started detached, so it leads its own process group: stopping
 * the run signals the whole group, grandchildren included (`sleep 1000 &` does not survive).
 * Stopping is TERM to the group, then KILL after `killGraceMs`; it happens on the deadline
 * (→ `timeout`), on a cancel (→ `canceled`), on a 409 or a lost runner registration (→ no
 * result at all: the run is no longer ours). When the script exits by itself, whatever it left
 * running in its group is killed too, so nothing outlives its run.
 *
 * A run with an image (or any run, on a runner with a default image) clones the same way, then
 * runs its script in its own container instead of bash on the host (container/executor.ts);
 * stopping it stops the container.
 *
 * The script sees a clean environment (config.ts baseEnvironment: PATH, HOME, LANG, USER, SHELL)
 * plus CI, PULSE_RUN_ID, PULSE_BATCH_ID, PULSE_ATTEMPT, TMPDIR and the run's own `env` on top:
 * never the runner's token, the orchestrator url or the rest of the runner's environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { ApiClient, RunAssignment, RunStatus } from './api-client';
import type { HttpError } from './http';
import { LogShipper, type ShipperOptions } from './log-shipper';
import { LogSpool } from './log-spool';
import { errorMessage, redactUrl, type Logger } from './logger';
import { checkRepo, gitProtocols } from './repo';
import { ContainerRun, type ContainerSettings } from './container/executor';

export interface JobOptions extends ShipperOptions {
  /** Parent directory of the per-run workspaces. */
  workDir: string;
  allowLocalRepos: boolean;
  /** Between TERM and KILL when a run is stopped (ms). */
  killGraceMs: number;
  /** The clean base environment for scripts (see config.ts baseEnvironment). */
  baseEnv: Record<string, string>;
  /** Extra variables for `git clone` only (an ssh agent socket), never for the script. */
  gitEnv: Record<string, string>;
  /** The container executor (SPEC section 9); undefined: this runner runs no containers. */
  container?: ContainerSettings;
}

export type JobOutcome =
  | { kind: 'completed'; status: RunStatus; exitCode?: number; logBytes: number }
  /** The run is no longer ours (409, deregistered): no result was or will be sent. */
  | { kind: 'dropped'; reason: string };

export interface JobEvents {
  /** 401/403 while shipping: the runner must stop altogether. */
  onFatal(err: HttpError): void;
}

type StopReason = 'canceled' | 'timeout' | 'dropped';

export class Job {
  private stopReason?: StopReason;
  private dropReason = '';
  private child?: ChildProcess;
  /** The run's container, while it exists (container runs only). */
  private container?: ContainerRun;
  private killTimer?: NodeJS.Timeout;
  private spool?: LogSpool;
  /** The processes are done: a late cancel or deadline no longer changes the result. */
  private settled = false;
  /** Fires on drop: aborts requests and retries in flight for this run. */
  private readonly abort = new AbortController();

  constructor(
    readonly assignment: RunAssignment,
    private readonly api: ApiClient,
    private readonly runnerId: string,
    private readonly options: JobOptions,
    private readonly logger: Logger,
    private readonly events: JobEvents,
  ) {}

  get id(): string {
    return this.assignment.id;
  }

  /** User cancel (heartbeat `cancel` list, update `cancel: true`, second signal). Idempotent. */
  cancel(): void {
    this.stop('canceled');
  }

  /** The run is not ours any more: kill it and send nothing. */
  drop(reason: string): void {
    if (this.stopReason === 'dropped') return;
    this.dropReason = reason;
    this.stopReason = 'dropped';
    this.terminate();
    this.abort.abort();
  }

  /** Last resort before the runner exits at once: KILL the process group now, synchronously. */
  killNow(): void {
    this.container?.killNow();
    const pid = this.child?.pid;
    if (pid !== undefined) signalGroup(pid, 'SIGKILL');
  }

  /** Never rejects: every failure ends as an outcome, and the workspace is always removed. */
  async run(): Promise<JobOutcome> {
    const run = this.assignment;
    const started = Date.now();
    this.logger.info('run started', { run: run.id, batch: run.project, attempt: run.attempt, repo: redactUrl(run.repo), timeout: run.timeout || undefined });
    let workspace: string | undefined;
    let deadline: NodeJS.Timeout | undefined;
    let shipper: LogShipper | undefined;
    try {
      workspace = await fs.mkdtemp(join(this.options.workDir, 'pulse-run-'));
      await Promise.all(['log', 'tmp'].map((dir) => fs.mkdir(join(workspace as string, dir), { mode: 0o700 })));
      const spool = await LogSpool.create(join(workspace, 'log'), maskedValues(run));
      this.spool = spool;
      shipper = new LogShipper(spool, this.api, this.runnerId, run, this.options, {
        onCancel: () => this.cancel(),
        onConflict: (message) => this.drop(message),
        onFatal: (err) => {
          this.drop(`runner no longer accepted: ${err.message}`);
          this.events.onFatal(err);
        },
      }, this.logger, this.abort.signal);

      if (!(await shipper.acknowledge())) return this.dropped(started);
      if (run.timeout > 0) deadline = setTimeout(() => this.stop('timeout'), run.timeout * 1000);
      shipper.start();
      const ended = await this.execute(workspace, spool);
      this.settled = true;
      clearTimeout(deadline);
      await shipper.stop();
      if (this.stopReason === 'dropped') return this.dropped(started);

      const status: RunStatus = this.stopReason ?? (ended.exitCode === 0 ? 'finished' : 'failed');
      const exitCode = this.stopReason ? undefined : ended.exitCode;
      if (!(await shipper.complete({ id: run.id, status, exitCode }))) return this.dropped(started);
      this.logger.info('run ended', { run: run.id, status, exitCode, logBytes: shipper.logBytes, seconds: seconds(started) });
      return { kind: 'completed', status, exitCode, logBytes: shipper.logBytes };
    } catch (err) {
      // A local failure (disk full, workspace not writable): the run cannot be reported honestly.
      this.logger.error('run aborted by a runner error', { run: run.id, error: errorMessage(err) });
      this.drop(errorMessage(err));
      return this.dropped(started);
    } finally {
      clearTimeout(deadline);
      this.killNow(); // only reached with a live process after a runner error; nothing may outlive the run
      clearTimeout(this.killTimer);
      await shipper?.stop().catch(() => undefined);
      await this.spool?.close().catch(() => undefined);
      if (workspace) await removeWorkspace(workspace, this.logger);
    }
  }

  /** Clone then script. `exitCode` undefined when the run failed before the script ran. */
  private async execute(workspace: string, spool: LogSpool): Promise<{ exitCode?: number }> {
    const run = this.assignment;
    const image = run.image ?? this.options.container?.defaultImage;
    // A container run clones into context/workspace: that directory and context/.pulse are
    // copied into the container's `/workspace` and `/.pulse` (container/executor.ts).
    const source = image ? join(workspace, 'context', 'workspace') : join(workspace, 'src');
    if (this.stopReason) return {};
    if (image && !this.options.container) {
      spool.note(`this run needs a container (image ${image}), but this runner has no container engine`);
      return {};
    }

    const repo = checkRepo(run.repo, this.options.allowLocalRepos);
    if (!repo.ok) {
      spool.note(`refusing repository ${redactUrl(run.repo)}: ${repo.reason}`);
      return {};
    }
    const gitEnv = {
      ...this.options.baseEnv,
      ...this.options.gitEnv,
      TMPDIR: join(workspace, 'tmp'),
      GIT_ALLOW_PROTOCOL: gitProtocols(this.options.allowLocalRepos),
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
    };
    const clone = await this.spawnGroup('git', ['clone', '--quiet', '--', run.repo, source], workspace, gitEnv, spool.rawFd);
    if (this.stopReason) return {};
    if (clone.exitCode !== 0) {
      spool.note(`git clone of ${redactUrl(run.repo)} failed${clone.exitCode === undefined ? '' : ` (exit code ${clone.exitCode})`}`);
      return {};
    }

    if (image && this.options.container) return this.executeInContainer(workspace, spool, image, this.options.container);
    const script = join(workspace, 'script.sh');
    await fs.writeFile(script, `${run.script.join('\n')}\n`, { mode: 0o600 });
    const env = {
      ...this.options.baseEnv,
      TMPDIR: join(workspace, 'tmp'),
      CI: 'true',
      PULSE_RUN_ID: run.id,
      PULSE_BATCH_ID: run.project,
      PULSE_ATTEMPT: String(run.attempt),
      ...run.env,
    };
    if (this.stopReason) return {};
    const result = await this.spawnGroup('bash', [script], source, env, spool.rawFd);
    if (result.exitCode === undefined && !this.stopReason) spool.note('the script could not be started');
    return result;
  }

  /**
   * The script in its own container: the same variables as on the shell executor, except those
   * that describe the runner's host (PATH, HOME, USER, SHELL, TMPDIR come from the image).
   */
  private async executeInContainer(workspace: string, spool: LogSpool, image: string, settings: ContainerSettings): Promise<{ exitCode?: number }> {
    const run = this.assignment;
    const context = join(workspace, 'context');
    await fs.mkdir(join(context, '.pulse'), { mode: 0o755 });
    await fs.writeFile(join(context, '.pulse', 'script.sh'), `${run.script.join('\n')}\n`, { mode: 0o644 });
    const env = {
      LANG: this.options.baseEnv.LANG ?? 'C.UTF-8',
      CI: 'true',
      PULSE_RUN_ID: run.id,
      PULSE_BATCH_ID: run.project,
      PULSE_ATTEMPT: String(run.attempt),
      ...run.env,
    };
    if (this.stopReason) return {};
    const container = new ContainerRun(settings, {
      runId: run.id,
      attempt: run.attempt,
      runnerId: this.runnerId,
      image,
      contextDir: context,
      env,
      resources: run.resources,
      outputFd: spool.rawFd,
      note: (line) => spool.note(line),
    });
    this.container = container;
    try {
      return await container.run();
    } finally {
      this.container = undefined;
    }
  }

  /**
   * Starts `command` as the leader of a new process group, stdout and stderr both on `fd`, and
   * resolves when it exits. A signal death maps to 128+n like a shell reports it.
   */
  private spawnGroup(command: string, args: string[], cwd: string, env: Record<string, string>, fd: number): Promise<{ exitCode?: number }> {
    return new Promise((resolve) => {
      const child = spawn(command, args, { cwd, env, stdio: ['ignore', fd, fd], detached: true });
      this.child = child;
      child.once('error', (err) => {
        this.spool?.note(`cannot start ${command}: ${err.message}`);
        this.child = undefined;
        resolve({});
      });
      child.once('exit', (code, signal) => {
        this.child = undefined;
        clearTimeout(this.killTimer);
        // The leader is gone; whatever it left behind in its group goes too.
        if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
        resolve({ exitCode: code ?? (signal ? 128 + signalNumber(signal) : undefined) });
      });
      if (this.stopReason) this.terminate();
    });
  }

  private stop(reason: 'canceled' | 'timeout'): void {
    if (this.stopReason || this.settled) return;
    this.stopReason = reason;
    this.logger.info(reason === 'timeout' ? 'run timed out; stopping it' : 'run canceled; stopping it', { run: this.id });
    this.spool?.note(
      reason === 'timeout' ? `the run exceeded its timeout of ${this.assignment.timeout}s; stopping it` : 'the run was canceled; stopping it',
    );
    this.terminate();
  }

  /** TERM to the current process group now, KILL after the grace. */
  private terminate(): void {
    this.container?.stop(this.options.killGraceMs / 1000);
    const pid = this.child?.pid;
    if (pid === undefined) return;
    signalGroup(pid, 'SIGTERM');
    clearTimeout(this.killTimer);
    this.killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL'), this.options.killGraceMs);
  }

  private dropped(started: number): JobOutcome {
    const reason = this.dropReason || 'stopped';
    this.logger.warn('run dropped without a result', { run: this.id, reason, seconds: seconds(started) });
    return { kind: 'dropped', reason };
  }
}

/** The values of the run's secrets (the `env` variables named in `masked`), to mask in its log. */
function maskedValues(run: RunAssignment): string[] {
  return (run.masked ?? []).map((name) => run.env[name]).filter((v): v is string => typeof v === 'string' && v !== '');
}

/**
 * Signals a whole process group. Never throws: it runs in timers and exit handlers, and a group
 * that is already gone (ESRCH) is the expected case, not an error.
 */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left to signal. EPERM cannot happen for a group we started ourselves.
  }
}

function signalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}

async function removeWorkspace(dir: string, logger: Logger): Promise<void> {
  try {
    await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // A script may have left read-only directories behind: make them writable and try again.
    try {
      await chmodTree(dir);
      await fs.rm(dir, { recursive: true, force: true });
    } catch (err) {
      logger.warn('could not remove the workspace', { dir, error: errorMessage(err) });
    }
  }
}

async function chmodTree(dir: string): Promise<void> {
  await fs.chmod(dir, 0o700);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await chmodTree(join(dir, entry.name));
  }
}

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}
