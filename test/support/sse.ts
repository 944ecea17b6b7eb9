import { request as httpRequest, IncomingMessage, ClientRequest } from 'node:http';

export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
}

/**
 * A Server-Sent Events reader for tests: keeps every frame and counts comment lines. `open()`
 * resolves once the response headers arrived (any status; `status` and `body` tell errors).
 */
export class SseClient {
  readonly frames: SseFrame[] = [];
  comments = 0;
  status = 0;
  headers: IncomingMessage['headers'] = {};
  /** The whole body of a non-200 answer. */
  body = '';
  ended = false;
  private buffer = '';
  private req: ClientRequest | undefined;
  private readonly listeners = new Set<() => void>();

  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient();
    return new Promise((resolve, reject) => {
      const req = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
        client.status = res.statusCode ?? 0;
        client.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => client.feed(chunk));
        res.on('end', () => client.finish());
        res.on('close', () => client.finish());
        res.on('error', () => client.finish());
        if (client.status !== 200) res.on('end', () => resolve(client));
        else resolve(client);
      });
      req.on('error', (err) => {
        if (client.status === 0) reject(err);
        else client.finish();
      });
      client.req = req;
      req.end();
    });
  }

  private feed(chunk: string): void {
    if (this.status !== 200) {
      this.body += chunk;
      return;
    }
    this.buffer += chunk;
    let i: number;
    while ((i = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 2);
      const frame: SseFrame = {};
      let isFrame = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments++;
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id' || field === 'event') frame[field] = value;
        else if (field === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
        else continue;
        isFrame = true;
      }
      if (isFrame) this.frames.push(frame);
    }
    this.notify();
  }

  private finish(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Frames of one kind, with their data parsed. */
  events<T = Record<string, unknown>>(kind?: string): Array<{ id: number; event: string; data: T }> {
    return this.frames
      .filter((f) => kind === undefined || f.event === kind)
      .map((f) => ({ id: Number(f.id), event: f.event ?? 'message', data: JSON.parse(f.data ?? 'null') as T }));
  }

  /** The last id seen (what a reconnecting client sends as Last-Event-ID). */
  get lastId(): string | undefined {
    for (let i = this.frames.length - 1; i >= 0; i--) if (this.frames[i].id !== undefined) return this.frames[i].id;
    return undefined;
  }

  /** Waits until `check` holds (re-checked on every chunk), or fails after `timeoutMs`. */
  waitFor(check: (c: SseClient) => boolean, timeoutMs = 20000, what = 'condition'): Promise<void> {
    if (check(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`SSE: ${what} not met within ${timeoutMs} ms; frames: ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      const listener = (): void => {
        if (check(this)) {
          clearTimeout(timer);
          this.listeners.delete(listener);
          resolve();
        } else if (this.ended) {
          clearTimeout(timer);
          this.listeners.delete(listener);
          if (check(this)) resolve();
          else reject(new Error(`SSE: stream ended before ${what}; frames: ${JSON.stringify(this.frames.slice(-5))}`));
        }
      };
      this.listeners.add(listener);
    });
  }

  close(): void {
    this.req?.destroy();
    this.ended = true;
  }
}
