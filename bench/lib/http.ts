/* eslint-disable @typescript-eslint/no-explicit-any -- a bench harness: untyped JSON bodies, IPC messages and autocannon's untyped API */
import * as http from 'node:http';

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
