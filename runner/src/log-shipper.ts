/**
 * Ships one run's log to the orchestrator and delivers its result, so that no byte is lost or
 * doubled whatever happens to the network or the orchestrator:
 *
 * - `acked` is the one number that matters: how many bytes of the sanitised log (log-spool.ts)
 *   the server has confirmed. The next chunk always starts there. A failed request is retried
 *   with the very same body (same offset, same bytes), which the server stores once.
 * - 416 `expectedOffset`: the server holds less than we thought (it restarted and lost an
 *   unacknowledged write): `acked` moves back and the bytes are read again from disk.
 * - 409: the lease is gone (stale messageId, final run). The run must stop and never complete.
 * - `cancel: true` in an update answer: the user canceled the run.
 * - Chunks go out about once a second (`flushIntervalMs`) or as soon as 64 KiB are waiting,
 *   whichever comes first, each at most `chunkBytes` and cut at a character boundary.
 *
 * Offsets on the wire are `base + local offset`; `base` is the server's log length when the run
 * was acknowledged (0 for a fresh run), in case the orchestrator keeps a previous attempt's log.
 */
import type { ApiClient, RunAssignment, RunResult, UpdateReply } from './api-client';
import { AbortedError, HttpError } from './http';
import type { LogSpool } from './log-spool';
import { errorMessage, type Logger } from './logger';
import { backoffDelay, isAuthFailure, retry, sleep, type RetryPolicy } from './retry';

export interface ShipperOptions {
  /** Longest wait before waiting output is sent (ms). */
  flushIntervalMs: number;
  /** Largest chunk, and the amount of waiting output that triggers a send at once (bytes). */
  chunkBytes: number;
  /** How often the raw output file is checked for new bytes (ms). */
  pollMs: number;
  retry: RetryPolicy;
}

export interface ShipperEvents {
  /** An update answer said `cancel: true`. */
  onCancel(): void;
  /** 409 (or another final answer about this run): stop the run, do not complete it. */
  onConflict(message: string): void;
  /** 401/403: the runner itself is no longer accepted. */
  onFatal(err: HttpError): void;
}

/** Thrown inside the shipper once the run must not be shipped any more. */
class StopShipping extends Error {}

/** More rounds of "complete → 416 → resend" than this means the server is not making progress. */
const MAX_COMPLETE_ROUNDS = 20;

export class LogShipper {
  private base = 0;
  private acked = 0;
  private lastSend = Date.now();
  private closing = false;
  private stopped = false;
  private pump?: Promise<void>;
  private wakePump?: () => void;
  /** Answers in a row that moved `acked` nowhere: backs off instead of hammering. */
  private stalls = 0;

  constructor(
    private readonly spool: LogSpool,
    private readonly api: ApiClient,
    private readonly runnerId: string,
    private readonly run: RunAssignment,
    private readonly options: ShipperOptions,
    private readonly events: ShipperEvents,
    private readonly logger: Logger,
    private readonly signal: AbortSignal,
  ) {}

  /** Bytes the server confirmed, as an offset on the wire. */
  get confirmedOffset(): number {
    return this.base + this.acked;
  }

  /** What `logBytes` reports: every byte of log this attempt produced, on the wire's scale. */
  get logBytes(): number {
    return this.base + this.spool.size;
  }

  /**
   * The immediate acknowledgement: an empty update at offset 0. Tells the server the run is in
   * our hands, and learns where the log starts. False when the run must not go ahead.
   */
  async acknowledge(): Promise<boolean> {
    const reply = await this.call({ messageId: this.run.messageId, offset: 0, logs: '' });
    if (!reply) return false;
    if (reply.kind === 'ok') {
      this.base = Math.max(0, reply.offset);
      if (this.base > 0) this.logger.info('server already holds log for this run; appending', { run: this.run.id, offset: this.base });
      if (reply.cancel) this.events.onCancel();
    }
    return true;
  }

  /** Starts streaming in the background while the run executes. */
  start(): void {
    this.pump = this.loop().catch((err: unknown) => {
      if (!(err instanceof StopShipping) && !(err instanceof AbortedError)) {
        this.logger.error('log streaming stopped', { run: this.run.id, error: errorMessage(err) });
      }
    });
  }

  /** Stops the background streaming and waits for a send in flight. */
  async stop(): Promise<void> {
    this.closing = true;
    this.wakePump?.();
    await this.pump;
  }

  /**
   * After the process is gone: sends every remaining byte, then the result, and again after a
   * 416 on complete. True once the server accepted the result; false if the run was stopped.
   */
  async complete(result: Omit<RunResult, 'logBytes'>): Promise<boolean> {
    await this.spool.finish();
    try {
      for (let round = 0; round < MAX_COMPLETE_ROUNDS; round++) {
        await this.sendAll();
        const body = { messageId: this.run.messageId, result: { ...result, logBytes: this.logBytes } };
        const reply = await this.guard(() => this.api.complete(this.runnerId, this.run.project, body, { signal: this.signal }));
        if (reply.kind === 'ok') return true;
        if (reply.kind === 'conflict') {
          this.stopShipping(reply.message);
        }
        if (reply.kind === 'gap') {
          this.logger.warn('server lacks log bytes at completion; resending', { run: this.run.id, from: reply.expectedOffset });
          this.rewind(reply.expectedOffset);
          await this.pauseIfStalled(true);
        }
      }
      this.logger.error('giving up completing: the server keeps asking for bytes it was sent', { run: this.run.id });
      return false;
    } catch (err) {
      if (err instanceof StopShipping || err instanceof AbortedError) return false;
      throw err;
    }
  }

  private async loop(): Promise<void> {
    while (!this.closing && !this.stopped && !this.signal.aborted) {
      await this.spool.ingest();
      const waiting = this.spool.size - this.acked;
      const due = Date.now() - this.lastSend >= this.options.flushIntervalMs;
      if (waiting >= this.options.chunkBytes || (waiting > 0 && due)) await this.sendAll();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.pollMs);
        this.wakePump = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Sends chunks until the server has confirmed every byte produced so far. */
  private async sendAll(): Promise<void> {
    const target = this.spool.size;
    while (this.acked < target) {
      const from = this.acked;
      const chunk = await this.spool.read(from, this.options.chunkBytes);
      const reply = await this.call({ messageId: this.run.messageId, offset: this.base + from, logs: chunk.text });
      if (!reply) throw new StopShipping();
      this.lastSend = Date.now();
      if (reply.kind === 'ok') {
        this.rewind(reply.offset);
        if (reply.cancel) this.events.onCancel();
      } else if (reply.kind === 'gap') {
        this.logger.warn('server lacks log bytes; resending', { run: this.run.id, from: reply.expectedOffset, sent: this.base + from });
        this.rewind(reply.expectedOffset);
      }
      await this.pauseIfStalled(this.acked <= from);
    }
  }

  /** One update, retried through outages; undefined once the run must not be shipped any more. */
  private async call(body: { messageId: string; offset: number; logs: string }): Promise<UpdateReply | undefined> {
    try {
      const reply = await this.guard(() => this.api.update(this.run.id, body, { signal: this.signal }));
      if (reply.kind === 'conflict') this.stopShipping(reply.message);
      return reply;
    } catch (err) {
      if (err instanceof StopShipping || err instanceof AbortedError) return undefined;
      throw err;
    }
  }

  /** Retries outages; turns final answers into events and StopShipping. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await retry(fn, {
        policy: this.options.retry,
        signal: this.signal,
        onRetry: (err, attempt, delayMs) =>
          this.logger.warn('orchestrator unreachable; retrying', { run: this.run.id, error: errorMessage(err), attempt: attempt + 1, delayMs }),
      });
    } catch (err) {
      if (isAuthFailure(err)) {
        this.stopped = true;
        this.events.onFatal(err);
        throw new StopShipping();
      }
      if (err instanceof HttpError) this.stopShipping(`the orchestrator refused the run's update: ${err.message}`);
      throw err;
    }
  }

  private stopShipping(message: string): never {
    this.stopped = true;
    this.events.onConflict(message);
    throw new StopShipping(message);
  }

  /** Moves `acked` to a server offset, within what exists locally. */
  private rewind(serverOffset: number): void {
    const local = serverOffset - this.base;
    if (local > this.spool.size) {
      this.logger.warn('server claims more log than was produced; ignoring the excess', { run: this.run.id, offset: serverOffset });
    }
    this.acked = Math.min(Math.max(local, 0), this.spool.size);
  }

  private async pauseIfStalled(stalled: boolean): Promise<void> {
    this.stalls = stalled ? this.stalls + 1 : 0;
    if (this.stalls > 1) await sleep(backoffDelay(this.stalls - 2, this.options.retry), this.signal);
  }
}
