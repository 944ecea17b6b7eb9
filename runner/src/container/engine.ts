/**
 * A client of the Docker Engine API on a Unix socket, spoken with `node:http` (no SDK, no CLI):
 * one method per endpoint. Docker and Podman's compatible service (`podman system service`)
 * both serve it.
 *
 * - The API version is pinned to 1.40 in every path, and bodies carry no field newer than 1.40
 *   (Podman refuses what it does not know).
 * - Errors come back as EngineError with the engine's own message. Podman answers 500 where
 *   Docker answers 409 (kill of a stopped container, removal in progress…), so `isConflict()`
 *   also recognises those 500s by their message.
 * - `attach` returns the raw hijacked stream; `Demuxer` splits the 8-byte-header multiplexed
 *   stream of a container without a TTY (stdout and stderr frames) and never drops a trailing
 *   partial frame: a last line without a newline is output too.
 * - No method retries; the executor decides (it retries the archive upload on a 5xx).
 */
import * as http from 'node:http';
import type { Readable } from 'node:stream';

export const API_VERSION = '1.40';

/** Where the engine is: a Unix socket path. */
export interface EngineAddress {
  socketPath: string;
}

/** The engine answered with a status that is not a success. */
export class EngineError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly endpoint: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }

  get notFound(): boolean {
    return this.status === 404;
  }

  /** 409, or a Podman 500 that means the same (wrong state, already in progress). */
  get conflict(): boolean {
    if (this.status === 409) return true;
    return this.status === 500 && /already|in progress|is not running|not running|can only|in state|is paused|is stopped|improper state/i.test(this.message);
  }
}

/** The socket could not be reached, or the connection broke, or no answer came in time. */
export class EngineUnavailable extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'EngineUnavailable';
  }
}

export interface EngineVersion {
  /** "Docker Engine" or "Podman Engine" (from the components list), else "docker". */
  engine: string;
  version: string;
  apiVersion: string;
  os: string;
  arch: string;
}

export interface ContainerCreate {
  Image: string;
  Cmd?: string[];
  Entrypoint?: string[];
  Env?: string[];
  WorkingDir?: string;
  Labels?: Record<string, string>;
  Tty?: boolean;
  OpenStdin?: boolean;
  AttachStdout?: boolean;
  AttachStderr?: boolean;
  User?: string;
  /** `"8080/tcp": {}` per published container port. */
  ExposedPorts?: Record<string, Record<string, never>>;
  HostConfig?: {
    /** `"8080/tcp": [{ HostPort: "9000" }]`; an empty HostPort lets the engine pick one. */
    PortBindings?: Record<string, Array<{ HostIp?: string; HostPort: string }>>;
    RestartPolicy?: { Name: 'no' | 'always' | 'unless-stopped' | 'on-failure'; MaximumRetryCount?: number };
    Memory?: number;
    MemorySwap?: number;
    NanoCpus?: number;
    CpuPeriod?: number;
    CpuQuota?: number;
    PidsLimit?: number;
    Init?: boolean;
    Privileged?: boolean;
    NetworkMode?: string;
    AutoRemove?: boolean;
    SecurityOpt?: string[];
    CapDrop?: string[];
  };
}

export interface ContainerState {
  Status: string;
  Running: boolean;
  OOMKilled: boolean;
  ExitCode: number;
  Error?: string;
}

export interface ContainerInspect {
  Id: string;
  Name: string;
  State: ContainerState;
  Config: { Labels?: Record<string, string> | null };
  /** Published ports as bound: `"8080/tcp": [{ HostIp: "0.0.0.0", HostPort: "32768" }]`. */
  NetworkSettings?: { Ports?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null } | null;
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Labels: Record<string, string> | null;
  State: string;
  Created: number;
}

export interface ImageInspect {
  Id: string;
  Config?: { User?: string; Env?: string[] | null; WorkingDir?: string } | null;
  Os?: string;
  Architecture?: string;
}

/** One line of `images/create` progress. */
export interface PullProgress {
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
}

export interface CallOptions {
  /** No answer (headers or, for JSON, the whole body) within this many ms: EngineUnavailable. */
  timeoutMs?: number;
}

/** The default for control calls (create, start, inspect…): engines can be slow under load. */
const CONTROL_TIMEOUT_MS = 60_000;

export class Engine {
  constructor(
    readonly address: EngineAddress,
    private readonly defaults: { timeoutMs: number } = { timeoutMs: CONTROL_TIMEOUT_MS },
  ) {}

  /** `unix:///path` → the socket path; anything else: undefined. */
  static parseAddress(value: string): EngineAddress | undefined {
    const match = /^unix:\/\/(\/.+)$/.exec(value);
    return match ? { socketPath: match[1] } : undefined;
  }

  /** GET /_ping: true when the engine answers "OK". */
  async ping(options: CallOptions = {}): Promise<boolean> {
    const res = await this.call('GET', '/_ping', undefined, options);
    return res.trim() === 'OK';
  }

  /** GET /version, reduced to the facts a runner reports. */
  async version(options: CallOptions = {}): Promise<EngineVersion> {
    const v = JSON.parse(await this.call('GET', '/version', undefined, options)) as {
      Version?: string;
      ApiVersion?: string;
      Os?: string;
      Arch?: string;
      Components?: Array<{ Name?: string; Version?: string }>;
    };
    const podman = v.Components?.find((c) => /podman/i.test(c.Name ?? ''));
    return {
      engine: podman ? 'podman' : 'docker',
      version: podman?.Version ?? v.Version ?? 'unknown',
      apiVersion: v.ApiVersion ?? API_VERSION,
      os: v.Os ?? 'unknown',
      arch: v.Arch ?? 'unknown',
    };
  }

  /** GET /images/{name}/json; undefined when the engine does not have it. */
  async inspectImage(image: string, options: CallOptions = {}): Promise<ImageInspect | undefined> {
    try {
      return JSON.parse(await this.call('GET', `/images/${encodeURIComponent(image)}/json`, undefined, options)) as ImageInspect;
    } catch (err) {
      if (err instanceof EngineError && err.notFound) return undefined;
      throw err;
    }
  }

  /**
   * POST /images/create?fromImage=…: pulls, calling `onProgress` per progress line. The engine
   * answers 200 and then reports a failure inside the stream: that becomes an EngineError too.
   */
  async pullImage(image: string, onProgress: (p: PullProgress) => void, options: CallOptions = {}): Promise<void> {
    const { name, tag } = splitReference(image);
    const query = new URLSearchParams({ fromImage: name, ...(tag && { tag }) });
    const res = await this.open('POST', `/images/create?${query.toString()}`, undefined, options.timeoutMs ?? this.defaults.timeoutMs);
    let failure: string | undefined;
    await forEachLine(res, (line) => {
      let p: PullProgress;
      try {
        p = JSON.parse(line) as PullProgress;
      } catch {
        return;
      }
      if (p.error || p.errorDetail?.message) failure ??= p.errorDetail?.message ?? p.error;
      onProgress(p);
    });
    if (failure) throw new EngineError(500, failure, 'images/create');
  }

  /** POST /containers/create?name=…: the new container's id. */
  async createContainer(name: string, spec: ContainerCreate, options: CallOptions = {}): Promise<string> {
    const res = JSON.parse(await this.call('POST', `/containers/create?name=${encodeURIComponent(name)}`, spec, options)) as { Id: string };
    return res.Id;
  }

  /**
   * POST /containers/{id}/attach?stream=1&stdout=1&stderr=1, asking for the connection upgrade
   * like the Docker client does. Resolves with the raw stream once the engine has answered, so
   * a caller that attaches BEFORE start misses no byte and no exit (Podman loses the exit code
   * of a container attached to after it exited).
   */
  attachContainer(id: string, options: CallOptions = {}): Promise<Readable> {
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: this.address.socketPath,
        method: 'POST',
        path: `/v${API_VERSION}/containers/${encodeURIComponent(id)}/attach?stream=1&stdout=1&stderr=1&logs=1`,
        headers: { Connection: 'Upgrade', Upgrade: 'tcp', 'Content-Type': 'text/plain' },
        agent: false,
      });
      const timer = setTimeout(() => req.destroy(new EngineUnavailable('no answer to attach')), options.timeoutMs ?? this.defaults.timeoutMs);
      req.once('upgrade', (res, socket, head) => {
        clearTimeout(timer);
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
      });
      req.once('response', (res) => {
        clearTimeout(timer);
        if ((res.statusCode ?? 0) >= 300) {
          void readAll(res).then((body) => reject(engineError(res.statusCode ?? 0, body, 'attach')), reject);
          return;
        }
        resolve(res); // an engine that does not upgrade streams the body until it closes
      });
      req.once('error', (err) => {
        clearTimeout(timer);
        reject(unavailable(err));
      });
      req.end();
    });
  }

  /** POST /containers/{id}/start (304 "already started" is success). */
  async startContainer(id: string, options: CallOptions = {}): Promise<void> {
    await this.call('POST', `/containers/${encodeURIComponent(id)}/start`, undefined, options);
  }

  /**
   * POST /containers/{id}/wait: resolves with the exit code once the container is not running.
   * No timeout by default (a run can last hours); the executor's own deadline stops it.
   */
  async waitContainer(id: string, options: CallOptions = {}): Promise<number> {
    const res = JSON.parse(await this.call('POST', `/containers/${encodeURIComponent(id)}/wait`, undefined, { timeoutMs: options.timeoutMs ?? 0 })) as {
      StatusCode: number;
    };
    return res.StatusCode;
  }

  /** GET /containers/{id}/json. */
  async inspectContainer(id: string, options: CallOptions = {}): Promise<ContainerInspect> {
    return JSON.parse(await this.call('GET', `/containers/${encodeURIComponent(id)}/json`, undefined, options)) as ContainerInspect;
  }

  /** POST /containers/{id}/stop?t=…: TERM, then KILL after `graceSeconds` (the engine does it). */
  async stopContainer(id: string, graceSeconds: number, options: CallOptions = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? this.defaults.timeoutMs + graceSeconds * 1000;
    await this.call('POST', `/containers/${encodeURIComponent(id)}/stop?t=${Math.max(0, Math.round(graceSeconds))}`, undefined, { timeoutMs });
  }

  /** POST /containers/{id}/kill?signal=…. */
  async killContainer(id: string, signal = 'SIGKILL', options: CallOptions = {}): Promise<void> {
    await this.call('POST', `/containers/${encodeURIComponent(id)}/kill?signal=${encodeURIComponent(signal)}`, undefined, options);
  }

  /** DELETE /containers/{id}?force=1&v=1: the container and its anonymous volumes. */
  async removeContainer(id: string, options: CallOptions = {}): Promise<void> {
    await this.call('DELETE', `/containers/${encodeURIComponent(id)}?force=1&v=1`, undefined, options);
  }

  /** GET /containers/json?all=1 filtered by labels (`key=value` each). */
  async listContainers(labels: string[], options: CallOptions = {}): Promise<ContainerSummary[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: labels }));
    return JSON.parse(await this.call('GET', `/containers/json?all=1&filters=${filters}`, undefined, options)) as ContainerSummary[];
  }

  /** PUT /containers/{id}/archive?path=…: extracts a tar stream into the container. */
  async putArchive(id: string, path: string, tar: Readable, options: CallOptions = {}): Promise<void> {
    await this.call('PUT', `/containers/${encodeURIComponent(id)}/archive?path=${encodeURIComponent(path)}`, tar, options);
  }

  /** One request whose whole answer is read as text; a status ≥ 300 (other than 304) throws. */
  private async call(method: string, path: string, body: unknown, options: CallOptions): Promise<string> {
    const timeoutMs = options.timeoutMs ?? this.defaults.timeoutMs;
    const res = await this.open(method, path, body, timeoutMs);
    return readAll(res, timeoutMs);
  }

  /** Sends a request; resolves with the response of a 2xx/304, rejects with EngineError otherwise. */
  private open(method: string, path: string, body: unknown, timeoutMs: number): Promise<http.IncomingMessage> {
    const endpoint = path.replace(/\?.*$/, '');
    return new Promise((resolve, reject) => {
      const stream = isReadable(body) ? body : undefined;
      const payload = body === undefined || stream ? undefined : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string> = {};
      if (payload) {
        headers['Content-Type'] = 'application/json';
        headers['Content-Length'] = String(payload.length);
      } else if (stream) {
        headers['Content-Type'] = 'application/x-tar';
      }
      const req = http.request({ socketPath: this.address.socketPath, method, path: `/v${API_VERSION}${path}`, headers, agent: false });
      const timer = timeoutMs > 0 ? setTimeout(() => req.destroy(new EngineUnavailable(`no answer from the engine to ${method} ${endpoint} within ${timeoutMs} ms`)), timeoutMs) : undefined;
      req.once('response', (res) => {
        clearTimeout(timer);
        const status = res.statusCode ?? 0;
        if (status < 300 || status === 304) {
          resolve(res);
          return;
        }
        void readAll(res).then((text) => reject(engineError(status, text, endpoint)), reject);
      });
      req.once('error', (err) => {
        clearTimeout(timer);
        reject(unavailable(err));
      });
      if (stream) {
        stream.once('error', (err) => req.destroy(err));
        stream.pipe(req);
      } else {
        req.end(payload);
      }
    });
  }
}

/**
 * Splits the multiplexed stream of a container without a TTY: frames of an 8-byte header
 * (stream type, three zero bytes, payload size big-endian) and the payload. `push` as bytes
 * arrive (a frame may be cut anywhere); `end` when the stream closed: a partial frame left over
 * is still delivered, so no byte the engine sent is lost.
 */
export class Demuxer {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (stream: 'stdout' | 'stderr' | 'system', payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      if (this.buffer.length < 8) return;
      const size = this.buffer.readUInt32BE(4);
      if (this.buffer.length < 8 + size) return;
      this.emit(this.buffer[0], this.buffer.subarray(8, 8 + size));
      this.buffer = this.buffer.subarray(8 + size);
    }
  }

  end(): void {
    if (this.buffer.length > 8) this.emit(this.buffer[0], this.buffer.subarray(8));
    this.buffer = Buffer.alloc(0);
  }

  private emit(type: number, payload: Buffer): void {
    if (payload.length === 0) return;
    this.onFrame(type === 2 ? 'stderr' : type === 3 ? 'system' : 'stdout', payload);
  }
}

/** `registry/name:tag@digest` → name and tag for images/create (digest stays in the name). */
export function splitReference(image: string): { name: string; tag?: string } {
  if (image.includes('@')) return { name: image };
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  if (colon > slash) return { name: image.slice(0, colon), tag: image.slice(colon + 1) };
  return { name: image, tag: 'latest' };
}

/** Calls `onLine` for every line of a stream, the last one included when it has no newline. */
export async function forEachLine(stream: Readable, onLine: (line: string) => void): Promise<void> {
  let rest = '';
  for await (const chunk of stream) {
    rest += (chunk as Buffer).toString('utf8');
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl).trim();
      rest = rest.slice(nl + 1);
      if (line) onLine(line);
    }
  }
  if (rest.trim()) onLine(rest.trim());
}

function isReadable(value: unknown): value is Readable {
  return typeof value === 'object' && value !== null && typeof (value as Readable).pipe === 'function';
}

function readAll(res: http.IncomingMessage, timeoutMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = timeoutMs > 0 ? setTimeout(() => res.destroy(new EngineUnavailable(`the engine's answer did not finish within ${timeoutMs} ms`)), timeoutMs) : undefined;
    res.on('data', (c: Buffer) => chunks.push(c));
    res.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.once('error', (err) => {
      clearTimeout(timer);
      reject(err instanceof EngineUnavailable ? err : unavailable(err));
    });
  });
}

function engineError(status: number, text: string, endpoint: string): EngineError {
  let message = text.trim();
  try {
    const parsed = JSON.parse(text) as { message?: unknown; cause?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: the text is the message
  }
  return new EngineError(status, message || `HTTP ${status}`, endpoint);
}

function unavailable(err: unknown): EngineUnavailable {
  if (err instanceof EngineUnavailable) return err;
  const e = err as NodeJS.ErrnoException;
  return new EngineUnavailable(`container engine unreachable: ${e.message}`, e.code);
}
