/**
 * The transport under the API client: JSON over Node's own http/https modules, no dependency.
 *
 * - Keep-alive agents, so a runner polling every few seconds reuses one TLS connection.
 * - HTTPS with the system CAs, or only the CAs of `--ca-file`.
 * - HTTPS_PROXY / HTTP_PROXY / NO_PROXY: https goes through a CONNECT tunnel (the TLS session is
 *   end to end with the orchestrator), http through an absolute-form request to the proxy.
 * - An idle timeout per request: no byte for `timeoutMs` and the request fails as a network
 *   error (retryable). A long-polled heartbeat passes a timeout longer than its `wait`.
 *
 * It never retries by itself: retry.ts decides what is worth another try.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { proxyAuthorization, proxyFor, type ProxyEnv } from './proxy';

/** The server answered with a status we do not treat as success. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    /** Parsed JSON body when it was JSON, else the raw text. */
    readonly body: unknown,
    /** From a `Retry-After` header (seconds or HTTP date), in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(`HTTP ${status}${describeBody(body)}`);
    this.name = 'HttpError';
  }
}

/** No usable answer: refused, reset, DNS failure, TLS failure, timeout, proxy failure. */
export class NetworkError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'NetworkError';
  }
}

/** The caller gave up (its AbortSignal fired): not an outage, never retried. */
export class AbortedError extends Error {
  constructor() {
    super('request aborted');
    this.name = 'AbortedError';
  }
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** JSON body parsed, or undefined for an empty body, or the text when it is not JSON. */
  body: unknown;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface TransportOptions {
  /** PEM contents of `--ca-file`: when set, only these CAs are trusted. */
  ca?: Buffer;
  proxy?: ProxyEnv;
  userAgent: string;
}

/** Largest response body we read; the protocol's answers are tiny. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export class Transport {
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent: https.Agent;
  private readonly tunnelAgents = new Map<string, TunnelAgent>();
  private readonly proxyAgents = new Map<string, http.Agent>();

  constructor(private readonly options: TransportOptions) {
    this.httpsAgent = new https.Agent({ keepAlive: true, ca: options.ca });
  }

  request(method: string, url: URL, options: RequestOptions): Promise<HttpResponse> {
    if (options.signal?.aborted) return Promise.reject(new AbortedError());
    const payload = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.options.userAgent,
      ...options.headers,
    };
    if (payload) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    let target: http.RequestOptions;
    let send: typeof http.request;
    try {
      ({ target, send } = this.route(url, headers));
    } catch (err) {
      return Promise.reject(new NetworkError(err instanceof Error ? err.message : String(err)));
    }

    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const req = send({ ...target, method, headers, timeout: options.timeoutMs });
      const onAbort = (): void => {
        req.destroy();
        finish(() => reject(new AbortedError()));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      req.on('timeout', () => {
        req.destroy(new NetworkError(`no answer within ${options.timeoutMs} ms`, 'ETIMEDOUT'));
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        finish(() => reject(err instanceof NetworkError ? err : new NetworkError(err.message, err.code)));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy(new NetworkError(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (err: NodeJS.ErrnoException) => {
          finish(() => reject(err instanceof NetworkError ? err : new NetworkError(err.message, err.code)));
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          finish(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parseBody(text) }));
        });
      });
      req.end(payload);
    });
  }

  /** Closes the pooled connections (at exit, so no socket keeps the process alive). */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    for (const agent of this.tunnelAgents.values()) agent.destroy();
    for (const agent of this.proxyAgents.values()) agent.destroy();
  }

  /** Where to connect and with which agent: directly, through a tunnel, or via a plain proxy. */
  private route(url: URL, headers: Record<string, string>): { target: http.RequestOptions; send: typeof http.request } {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`unsupported url scheme ${url.protocol}`);
    }
    const path = `${url.pathname}${url.search}`;
    const proxy = this.options.proxy ? proxyFor(url, this.options.proxy) : undefined;
    const direct: http.RequestOptions = { hostname: stripBrackets(url.hostname), port: url.port || undefined, path };
    if (url.protocol === 'https:') {
      if (!proxy) return { target: { ...direct, agent: this.httpsAgent }, send: https.request };
      return { target: { ...direct, agent: this.tunnelAgent(proxy) }, send: https.request };
    }
    if (!proxy) return { target: { ...direct, agent: this.httpAgent }, send: http.request };
    // Plain http through a proxy: ask the proxy for the absolute url.
    const auth = proxyAuthorization(proxy);
    if (auth) headers['proxy-authorization'] = auth;
    headers.host = url.host;
    const target: http.RequestOptions = {
      hostname: stripBrackets(proxy.hostname),
      port: proxy.port || undefined,
      path: url.href,
      agent: this.proxyAgent(proxy),
    };
    return { target, send: proxy.protocol === 'https:' ? https.request : http.request };
  }

  private tunnelAgent(proxy: URL): TunnelAgent {
    let agent = this.tunnelAgents.get(proxy.href);
    if (!agent) {
      agent = new TunnelAgent(proxy, { keepAlive: true, ca: this.options.ca });
      this.tunnelAgents.set(proxy.href, agent);
    }
    return agent;
  }

  private proxyAgent(proxy: URL): http.Agent {
    let agent = this.proxyAgents.get(proxy.href);
    if (!agent) {
      agent =
        proxy.protocol === 'https:' ? new https.Agent({ keepAlive: true, ca: this.options.ca }) : new http.Agent({ keepAlive: true });
      this.proxyAgents.set(proxy.href, agent);
    }
    return agent;
  }
}

/**
 * An https agent whose sockets are TLS sessions inside an HTTP CONNECT tunnel. The agent keeps
 * and reuses them like any keep-alive socket. Node accepts a socket handed to the callback of
 * createConnection, which lets the CONNECT round trip happen asynchronously.
 */
class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    private readonly agentOptions: https.AgentOptions,
  ) {
    super(agentOptions);
  }

  override createConnection(
    options: https.RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const done = callback ?? (() => undefined);
    const host = String(options.hostname ?? options.host ?? 'localhost');
    const port = Number(options.port ?? 443);
    const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const headers: Record<string, string> = { host: authority };
    const auth = proxyAuthorization(this.proxy);
    if (auth) headers['proxy-authorization'] = auth;
    const send = this.proxy.protocol === 'https:' ? https.request : http.request;
    const connect = send({
      hostname: stripBrackets(this.proxy.hostname),
      port: this.proxy.port || undefined,
      method: 'CONNECT',
      path: authority,
      headers,
      agent: false,
      timeout: typeof options.timeout === 'number' ? options.timeout : 30_000,
      ca: this.agentOptions.ca,
    });
    let called = false;
    const once = (err: Error | null, stream?: Duplex): void => {
      if (called) return;
      called = true;
      done(err, stream as Duplex);
    };
    connect.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        once(new NetworkError(`proxy ${this.proxy.host} refused CONNECT ${authority}: HTTP ${res.statusCode}`, 'EPROXY'));
        return;
      }
      const secure = tls.connect({
        socket,
        host, // the certificate is checked against this name, not the proxy's
        servername: options.servername ?? (isIp(host) ? undefined : host),
        ca: this.agentOptions.ca,
        ALPNProtocols: ['http/1.1'],
      });
      secure.once('secureConnect', () => once(null, secure));
      secure.once('error', (err: Error) => once(err));
    });
    connect.once('timeout', () => connect.destroy(new NetworkError(`proxy ${this.proxy.host} did not answer CONNECT`, 'ETIMEDOUT')));
    connect.once('error', (err) => once(new NetworkError(`proxy ${this.proxy.host}: ${err.message}`, (err as NodeJS.ErrnoException).code)));
    connect.end();
    return undefined;
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function describeBody(body: unknown): string {
  if (body && typeof body === 'object' && 'message' in body) {
    const message: unknown = body.message;
    return `: ${Array.isArray(message) ? message.map(String).join('; ') : String(message)}`;
  }
  if (typeof body === 'string' && body.length > 0) return `: ${body.slice(0, 200)}`;
  return '';
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. Undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(raw)) return Math.round(Number(raw) * 1000);
  const date = Date.parse(raw);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
