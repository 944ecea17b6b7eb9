/**
 * A small orchestrator for the runner's specs, served over real HTTP (or HTTPS) on loopback:
 * requests round-trip through real sockets, keep-alive, timeouts and resets included.
 *
 * It implements the runner protocol of SPEC section 2 the simple way (one runner, in memory):
 * registration, 403 after deregistration, heartbeats that hand out queued runs (long-polled),
 * byte-offset logs with 416 and idempotent re-sends, results with the logBytes check, and 400
 * for unknown body fields. It records every request. A test scripts faults with intercept():
 * an interceptor sees each request first and may answer it (a status, a dropped connection).
 */
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { RunAssignment, RunResult } from '../api-client';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** Connection it arrived on (keep-alive checks). */
  connection: number;
  at: number;
}

/** What an interceptor may answer instead of the fake's own logic. */
export type Reply =
  | { status: number; body?: unknown; headers?: Record<string, string> }
  /** Destroy the connection without an answer: the client sees a network error. */
  | 'drop'
  /** Never answer (until the fake closes): the client's timeout must fire. */
  | 'hang';

export type Interceptor = (req: RecordedRequest, fake: FakeOrchestrator) => Reply | undefined;

interface RunState {
  assignment: RunAssignment;
  log: Buffer;
  result?: RunResult;
  acked: boolean;
}

const FORBIDDEN = { statusCode: 403, message: 'Forbidden resource', error: 'Forbidden' };

const ALLOWED: Record<string, string[]> = {
  registration: ['token', 'name', 'labels', 'framework', 'resources', 'container', 'executors', 'defaultImage'],
  deregistration: ['id'],
  heartbeat: ['id', 'status', 'framework', 'usage', 'runs', 'wait', 'container', 'executors', 'defaultImage', 'instances'],
  update: ['messageId', 'offset', 'logs'],
  complete: ['messageId', 'result'],
  result: ['id', 'status', 'exitCode', 'outcome', 'data', 'logBytes'],
};

export class FakeOrchestrator {
  readonly requests: RecordedRequest[] = [];
  readonly registrationToken = 'reg-secret-token';
  runnerId = randomUUID();
  runnerToken = `pulse_rt_${randomUUID().replace(/-/g, '')}`;
  /** Seconds told to runners in every heartbeat answer. */
  interval = 0.05;
  /** Longest a heartbeat is held for a long poll (s), whatever `wait` says. */
  longPollMax = 1;
  deregistered = false;
  /** The desired list of instances every heartbeat answer carries (SPEC section 10), if set. */
  instances?: unknown[];
  /** Runs listed in heartbeat `cancel`. */
  readonly cancels = new Set<string>();
  /** Runs whose update answers say `cancel: true`. */
  readonly cancelInUpdate = new Set<string>();
  /** Set when a runner's request body had an unknown field. */
  readonly badRequests: string[] = [];
  readonly runs = new Map<string, RunState>();
  private readonly queue: RunAssignment[] = [];
  private interceptors: Interceptor[] = [];
  private waiters: Array<() => void> = [];
  private connections = 0;

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(tls?: { key: Buffer; cert: Buffer }): Promise<FakeOrchestrator> {
    const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }) : http.createServer();
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const fake = new FakeOrchestrator(server, `${tls ? 'https' : 'http'}://127.0.0.1:${port}`);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => fake.handle(req, res));
    server.on('connection', (socket) => {
      (socket as unknown as { pulseId: number }).pulseId = ++fake.connections;
    });
    return fake;
  }

  async close(): Promise<void> {
    for (const wake of this.waiters) wake();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Adds an interceptor; returns a function removing it. */
  intercept(fn: Interceptor): () => void {
    this.interceptors.push(fn);
    return () => {
      this.interceptors = this.interceptors.filter((f) => f !== fn);
    };
  }

  /** Queues a run for the next ready heartbeat; fills what the test leaves out. */
  enqueue(run: Partial<RunAssignment> & { repo: string; script: string[] }): RunAssignment {
    const assignment: RunAssignment = {
      id: randomUUID(),
      project: randomUUID(),
      messageId: randomUUID(),
      attempt: 1,
      env: {},
      timeout: 60,
      ...run,
    };
    this.queue.push(assignment);
    for (const wake of this.waiters.splice(0)) wake();
    return assignment;
  }

  /** Makes a run known without queueing it (tests that drive a Job directly). */
  assign(run: Partial<RunAssignment> & { repo: string; script: string[] }): RunAssignment {
    const assignment = this.enqueue(run);
    this.queue.splice(this.queue.indexOf(assignment), 1);
    this.runs.set(assignment.id, { assignment, log: Buffer.alloc(0), acked: false });
    return assignment;
  }

  log(runId: string): string {
    return this.runs.get(runId)?.log.toString('utf8') ?? '';
  }

  logBuffer(runId: string): Buffer {
    return this.runs.get(runId)?.log ?? Buffer.alloc(0);
  }

  result(runId: string): RunResult | undefined {
    return this.runs.get(runId)?.result;
  }

  /** Simulates a restart that lost the tail of a log (unacknowledged by the disk, say). */
  truncateLog(runId: string, length: number): void {
    const state = this.runs.get(runId);
    if (state) state.log = state.log.subarray(0, length);
  }

  requestsTo(suffix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith(suffix) || r.path.includes(suffix));
  }

  updates(runId: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path === `/api/runner/runs/${runId}/update`);
  }

  completes(): RecordedRequest[] {
    return this.requests.filter((r) => r.path.startsWith('/api/runner/complete/'));
  }

  heartbeats(): RecordedRequest[] {
    return this.requests.filter((r) => r.path === '/api/runner/heartbeat');
  }

  async waitForResult(runId: string, timeoutMs = 20_000): Promise<RunResult> {
    await waitFor(() => this.result(runId) !== undefined, timeoutMs, `result of run ${runId}`);
    return this.result(runId) as RunResult;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      const text = Buffer.concat(chunks).toString('utf8');
      if (text !== '') {
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          this.send(res, { status: 400, body: { statusCode: 400, message: 'invalid JSON' } });
          return;
        }
      }
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        connection: (req.socket as unknown as { pulseId: number }).pulseId,
        at: Date.now(),
      };
      this.requests.push(recorded);
      for (const interceptor of this.interceptors) {
        const reply = interceptor(recorded, this);
        if (reply === 'drop') {
          req.socket.destroy();
          return;
        }
        if (reply === 'hang') return;
        if (reply) {
          this.send(res, reply);
          return;
        }
      }
      this.route(recorded, res).catch((err: unknown) => {
        this.send(res, { status: 500, body: { statusCode: 500, message: String(err) } });
      });
    });
  }

  private async route(req: RecordedRequest, res: http.ServerResponse): Promise<void> {
    const { method, path, body } = req;
    if (method === 'POST' && path === '/api/runner/registration') {
      if (!this.check('registration', body, res)) return;
      if (body.token !== this.registrationToken) return this.send(res, { status: 401, body: { statusCode: 401, message: 'Unauthorized' } });
      return this.send(res, { status: 201, body: { runner_id: this.runnerId, runner_token: this.runnerToken } });
    }
    if (!this.authorized(req, res)) return;
    if (method === 'DELETE' && path === '/api/runner/registration') {
      if (!this.check('deregistration', body, res)) return;
      if (body.id !== this.runnerId) return this.send(res, { status: 403, body: FORBIDDEN });
      this.deregistered = true;
      res.writeHead(200).end();
      return;
    }
    if (method === 'POST' && path === '/api/runner/heartbeat') return this.heartbeat(body, res);
    const update = /^\/api\/runner\/runs\/([^/]+)\/update$/.exec(path);
    if (method === 'POST' && update) return this.update(update[1], body, res);
    const complete = /^\/api\/runner\/complete\/([^/]+)\/([^/]+)$/.exec(path);
    if (method === 'POST' && complete) return this.complete(complete[1], complete[2], body, res);
    this.send(res, { status: 404, body: { statusCode: 404, message: `no route ${method} ${path}` } });
  }

  private authorized(req: RecordedRequest, res: http.ServerResponse): boolean {
    if (req.headers.authorization !== `Bearer ${this.runnerToken}`) {
      this.send(res, { status: 401, body: { statusCode: 401, message: 'Unauthorized' } });
      return false;
    }
    if (this.deregistered) {
      this.send(res, { status: 403, body: FORBIDDEN });
      return false;
    }
    return true;
  }

  private async heartbeat(body: Record<string, unknown>, res: http.ServerResponse): Promise<void> {
    if (!this.check('heartbeat', body, res)) return;
    if (body.id !== this.runnerId) return this.send(res, { status: 403, body: FORBIDDEN });
    const listed = Array.isArray(body.runs) ? (body.runs as string[]) : [];
    for (const id of listed) {
      const state = this.runs.get(id);
      if (state) state.acked = true;
    }
    const answer = (): void => {
      const heartbeat: Record<string, unknown> = { status: 'ok', interval: this.interval };
      const cancel = listed.filter((id) => this.cancels.has(id));
      if (cancel.length > 0) heartbeat.cancel = cancel;
      if (this.instances) heartbeat.instances = this.instances;
      if (body.status === 'ready' && listed.length === 0 && this.queue.length > 0) {
        const run = this.queue.shift() as RunAssignment;
        this.runs.set(run.id, { assignment: run, log: Buffer.alloc(0), acked: false });
        heartbeat.run = run;
      }
      this.send(res, { status: 200, body: { heartbeat } });
    };
    // Like the orchestrator: a runner whose report does not follow its desired list yet is answered at once.
    const ids = (list: unknown): string => JSON.stringify((Array.isArray(list) ? (list as Array<{ id?: unknown }>) : []).map((i) => i.id).sort());
    const unsettled = this.instances !== undefined && ids(body.instances) !== ids(this.instances);
    const wait = typeof body.wait === 'number' && !unsettled ? Math.min(body.wait, this.longPollMax) : 0;
    if (body.status === 'ready' && this.queue.length === 0 && wait > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait * 1000);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (res.destroyed || res.socket?.destroyed) return;
    }
    answer();
  }

  private update(runId: string, body: Record<string, unknown>, res: http.ServerResponse): void {
    if (!this.check('update', body, res)) return;
    const state = this.runs.get(runId);
    if (!state || state.assignment.messageId !== body.messageId || state.result) {
      return this.send(res, { status: 409, body: { statusCode: 409, message: 'stale lease or final run' } });
    }
    state.acked = true;
    const offset = body.offset as number;
    const bytes = Buffer.from(body.logs as string, 'utf8');
    if (offset > state.log.length) {
      return this.send(res, { status: 416, body: { statusCode: 416, message: 'offset beyond log', expectedOffset: state.log.length } });
    }
    const overlap = state.log.subarray(offset, offset + bytes.length);
    if (!overlap.equals(bytes.subarray(0, overlap.length))) {
      this.badRequests.push(`update ${runId} at ${offset} rewrites stored bytes differently`);
      return this.send(res, { status: 400, body: { statusCode: 400, message: 'bytes differ from the stored log' } });
    }
    state.log = Buffer.concat([state.log, bytes.subarray(overlap.length)]);
    const cancel = this.cancelInUpdate.has(runId);
    this.send(res, { status: 200, body: { offset: state.log.length, cancel } });
  }

  private complete(runnerId: string, project: string, body: Record<string, unknown>, res: http.ServerResponse): void {
    if (!this.check('complete', body, res)) return;
    const result = body.result as RunResult;
    if (!result || typeof result !== 'object' || !this.check('result', result as unknown as Record<string, unknown>, res)) return;
    if (runnerId !== this.runnerId) return this.send(res, { status: 403, body: FORBIDDEN });
    const state = this.runs.get(result.id);
    if (!state || state.assignment.messageId !== body.messageId || state.assignment.project !== project) {
      return this.send(res, { status: 409, body: { statusCode: 409, message: 'stale lease' } });
    }
    if (state.result) {
      const same = JSON.stringify(state.result) === JSON.stringify(result);
      return this.send(res, same ? { status: 200, body: { status: 'OK' } } : { status: 409, body: { statusCode: 409, message: 'final' } });
    }
    if (typeof result.logBytes === 'number' && result.logBytes > state.log.length) {
      return this.send(res, { status: 416, body: { statusCode: 416, message: 'log incomplete', expectedOffset: state.log.length } });
    }
    state.result = result;
    this.send(res, { status: 200, body: { status: 'OK' } });
  }

  /** 400 for unknown fields, as the real orchestrator does. */
  private check(kind: string, body: Record<string, unknown>, res: http.ServerResponse): boolean {
    const unknown = Object.keys(body).filter((key) => !ALLOWED[kind].includes(key));
    if (unknown.length === 0) return true;
    this.badRequests.push(`${kind}: unknown field(s) ${unknown.join(', ')}`);
    this.send(res, { status: 400, body: { statusCode: 400, message: `property ${unknown[0]} should not exist`, error: 'Bad Request' } });
    return false;
  }

  private send(res: http.ServerResponse, reply: Exclude<Reply, 'drop' | 'hang'>): void {
    if (res.headersSent || res.destroyed) return;
    const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(payload);
  }
}

/** Polls `condition` until true, or fails with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
