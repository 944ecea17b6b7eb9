import type { FastifyReply } from 'fastify';
import type { ServerResponse } from 'node:http';

/** One Server-Sent Events frame; `data` must be one line (JSON.stringify never emits a newline). */
export function sseFrame(event: string, data: string, id?: number | string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${data}\n\n`;
}

export interface SseOptions {
  /** A comment line is written whenever this long passes without a frame (proxies close quiet streams). */
  keepAliveMs: number;
  /** A client that does not drain what it was sent within this long is disconnected. */
  drainTimeoutMs: number;
}

/**
 * A text/event-stream response taken over from Fastify. Open it only after authentication and
 * validation ran: until `open()` nothing is written, so errors are still the usual JSON.
 *
 * Backpressure: `send()` waits while the socket's buffer is full. A client that does not drain it
 * within `drainTimeoutMs` is disconnected (it resumes from the last id it saw): nothing is ever
 * skipped, and a slow reader cannot make this process buffer without bound.
 */
export class SseStream {
  private readonly gone = new AbortController();
  private res: ServerResponse | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private lastWrite = Date.now();

  constructor(private readonly options: SseOptions) {}

  /** Aborted when the client went away or the stream was ended. */
  get closed(): AbortSignal {
    return this.gone.signal;
  }

  open(reply: FastifyReply): void {
    reply.hijack();
    const res = reply.raw;
    this.res = res;
    res.on('close', () => this.close());
    res.on('error', () => this.close());
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive',
    });
    res.flushHeaders();
    const period = Math.max(10, Math.min(this.options.keepAliveMs, 60000) / 4);
    this.keepAlive = setInterval(() => {
      if (Date.now() - this.lastWrite >= this.options.keepAliveMs) void this.send(': keep-alive\n\n');
    }, period);
    this.keepAlive.unref();
  }

  /** Writes frames; false once the stream is closed (client gone, too slow, or shut down). */
  async send(text: string): Promise<boolean> {
    const res = this.res;
    if (!res || this.gone.signal.aborted) return false;
    this.lastWrite = Date.now();
    if (res.write(text)) return true;
    const drained = await new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        res.off('drain', onDrain);
        this.gone.signal.removeEventListener('abort', onGone);
        resolve(ok);
      };
      const onDrain = (): void => done(true);
      const onGone = (): void => done(false);
      const timer = setTimeout(() => done(false), this.options.drainTimeoutMs);
      res.on('drain', onDrain);
      this.gone.signal.addEventListener('abort', onGone, { once: true });
    });
    if (!drained) {
      // Too slow: drop the connection rather than buffer or skip; the client resumes from its last id.
      res.destroy();
      this.close();
    }
    return drained && !this.gone.signal.aborted;
  }

  /** Ends the response (the client may reconnect with its last id). */
  end(): void {
    if (this.res && !this.res.writableEnded) this.res.end();
    this.close();
  }

  private close(): void {
    clearInterval(this.keepAlive);
    if (!this.gone.signal.aborted) this.gone.abort();
  }
}
