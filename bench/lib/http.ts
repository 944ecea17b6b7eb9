/* eslint-disable @typescript-eslint/no-explicit-any -- a bench harness: untyped JSON bodies, IPC messages and autocannon's untyped API */
import * as http from 'node:http';
import * as net from 'node:net';

export interface JsonResponse<T = any> {
  status: number;
  body: T;
}

/**
 * A JSON client over node:http with one keep-alive pool per load process (the pool reuses a
 * socket as soon as its response is read; idle sockets are never thrown away). Not global
 * fetch, which tops out near 2.4k req/s and would measure the generator instead of the server.
 */
export class JsonClient {
  readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(base: string) {
    const url = new URL(base);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1_000_000, scheduling: 'lifo' });
  }

  request<T = any>(method: string, path: string, body?: unknown, token?: string, timeoutMs = 120_000): Promise<JsonResponse<T>> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: http.OutgoingHttpHeaders = {};
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    if (token) headers.authorization = `Bearer ${token}`;
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: this.host, port: this.port, method, path, headers, agent: this.agent },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(parts).toString('utf8');
            let parsed: unknown = text;
            if (text && (res.headers['content-type'] ?? '').includes('json')) {
              try {
                parsed = JSON.parse(text);
              } catch {
                parsed = text;
              }
            }
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          });
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`timeout after ${timeoutMs} ms: ${method} ${path}`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  post<T = any>(path: string, body: unknown, token?: string, timeoutMs?: number): Promise<JsonResponse<T>> {
    return this.request<T>('POST', path, body, token, timeoutMs);
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * One keep-alive HTTP/1.1 connection spoken directly on a socket, one request at a time: what a
 * simulated runner of the dispatch scenarios uses (a runner's loop is sequential: heartbeat, then
 * complete). On this 2-core machine the load processes share the CPU with the orchestrator and
 * PostgreSQL; node:http's client costs about 0.19 ms of CPU per request there, which the plain
 * `pg` reference does not pay, so the dispatch drain used to measure the generator as much as
 * the server. It sends the same requests (method, path, JSON body, Content-Type, Content-Length,
 * Authorization) and reads responses framed by Content-Length; anything else (chunked, a
 * connection closed early) is an error, never a silent pass.
 */
export class LeanConnection {
  private socket: net.Socket | undefined;
  private connecting: Promise<net.Socket> | undefined;
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: JsonResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private readonly host: string;
  private readonly port: number;

  constructor(base: string) {
    const url = new URL(base);
    this.host = url.hostname;
    this.port = Number(url.port);
  }

  async post<T = any>(path: string, body: unknown, token?: string, timeoutMs = 120_000): Promise<JsonResponse<T>> {
    const socket = this.socket ?? (await this.connect());
    const payload = Buffer.from(JSON.stringify(body));
    const head =
      `POST ${path} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${payload.length}\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}\r\n`;
    return new Promise<JsonResponse<T>>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`timeout after ${timeoutMs} ms: POST ${path}`)), timeoutMs);
      this.waiting = { resolve, reject, timer };
      socket.write(Buffer.concat([Buffer.from(head, 'latin1'), payload]));
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connect(): Promise<net.Socket> {
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
      socket.once('connect', () => {
        this.socket = socket;
        this.connecting = undefined;
        resolve(socket);
      });
      socket.once('error', (err) => {
        this.connecting = undefined;
        reject(err);
      });
      socket.on('error', (err) => this.fail(err));
      socket.on('close', () => {
        this.socket = undefined;
        this.buffered = Buffer.alloc(0);
        this.fail(new Error('connection closed by the server'));
      });
      socket.on('data', (chunk: Buffer) => this.read(chunk));
    });
    return this.connecting;
  }

  private read(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const end = this.buffered.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buffered.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!length) return this.fail(new Error(`response without Content-Length (status ${status})`));
    const total = end + 4 + Number(length[1]);
    if (this.buffered.length < total) return;
    const text = this.buffered.toString('utf8', end + 4, total);
    this.buffered = this.buffered.subarray(total);
    const waiting = this.waiting;
    this.waiting = undefined;
    if (!waiting) return;
    clearTimeout(waiting.timer);
    let body: unknown = text;
    if (text && /\r\ncontent-type: *[^\r]*json/i.test(head)) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    waiting.resolve({ status, body });
  }

  private fail(err: Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting) {
      clearTimeout(waiting.timer);
      waiting.reject(err);
    }
    if (this.socket) {
      this.socket.destroy();
      this.socket = undefined;
      this.buffered = Buffer.alloc(0);
    }
  }
}
