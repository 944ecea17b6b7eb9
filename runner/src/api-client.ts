/**
 * The runner protocol (SPEC section 2), one method per endpoint:
 *
 *   register → heartbeat (work and cancels arrive only in its answer) → update (log bytes at an
 *   offset) → complete (the result) … deregister.
 *
 * Every call except register carries `Authorization: Bearer <runner token>`. Bodies carry only
 * the protocol's fields: the orchestrator rejects unknown fields with 400.
 *
 * Answers that are part of the protocol come back as values (update/complete: 416 → `gap`,
 * 409 → `conflict`); anything else that is not a 2xx is thrown as HttpError, and retry.ts
 * decides whether to try again. No method retries by itself.
 */
import { RunnerCredentials } from './credentials';
import { HttpError, parseRetryAfter, type HttpResponse, type Transport } from './http';

export interface SystemFacts {
  ci: boolean;
  os: { description: string; platform: string; version: string };
  cpu: { baseClock: number; logicalCores: number; model: string };
  ram: { total: number };
}

export interface Framework {
  name: string;
  version: string;
  system?: SystemFacts;
}

/** Maximum (registration) or current use (heartbeat): cores, MiB, MiB. */
export interface Resources {
  cpu: number;
  memory: number;
  disk: number;
}

/** The container engine a runner drives (SPEC section 9); absent when it has none. */
export interface ContainerFacts {
  engine: string;
  version: string;
  apiVersion: string;
  os: string;
  arch: string;
  /** The last ping of the engine worked. */
  healthy: boolean;
}

export type Executor = 'shell' | 'container';

/** What a runner can execute, sent in registration and every heartbeat. */
export interface Capabilities {
  container?: ContainerFacts;
  executors?: Executor[];
  defaultImage?: string;
}

export interface RegistrationRequest extends Capabilities {
  token: string;
  name?: string;
  labels?: string[];
  framework?: Framework;
  resources?: Resources;
}

export interface Registration {
  runnerId: string;
  runnerToken: string;
}

export interface HeartbeatRequest extends Capabilities {
  id: string;
  status: 'busy' | 'ready';
  framework?: Framework;
  usage?: Resources;
  runs?: string[];
  /** Long poll: a ready runner with no work is answered when work arrives or after this many seconds. */
  wait?: number;
  /** Every instance this runner holds (SPEC section 10); absent when it has no container engine. */
  instances?: InstanceReport[];
}

/** The statuses a runner reports for an instance it holds (SPEC section 10). */
export type InstanceState = 'STARTING' | 'RUNNING' | 'CRASHED' | 'FAILED' | 'STOPPING' | 'STOPPED';

/** One instance the runner holds, in a heartbeat request. */
export interface InstanceReport {
  id: string;
  status: InstanceState;
  description?: string;
  /** The host address its ports are published on. */
  ip?: string;
  /** As published: "32768:8080". */
  ports?: string[];
  restarts?: number;
  /** The generation of the desired entry its container was made from. */
  generation?: number;
}

/** One entry of the whole desired list a heartbeat answer carries (SPEC section 10). */
export interface DesiredInstance {
  id: string;
  name: string;
  /** The image. */
  uri: string;
  command?: string[];
  /** "NAME=value" */
  environment: string[];
  resources: Resources;
  /** "8080" (the engine picks the host port) or "9000:8080". */
  ports: string[];
  state: 'RUNNING' | 'STOPPED';
  /** Grows when the container must be made again. */
  generation: number;
}

export interface RunAssignment {
  id: string;
  /** The batch: the `projectId` of complete(). */
  project: string;
  /** The lease (fencing token): every later call about this run carries it. */
  messageId: string;
  attempt: number;
  repo: string;
  script: string[];
  env: Record<string, string>;
  /** Seconds; 0 or absent means no deadline of the runner's own. */
  timeout: number;
  payload?: unknown;
  /** Run in a container of this image (SPEC section 9). */
  image?: string;
  /** What the run asked for: cores and MiB (0: no limit). */
  resources?: Partial<Resources>;
  /** Names of the `env` variables that hold secrets: their values are masked in the log. */
  masked?: string[];
}

export interface HeartbeatReply {
  status: string;
  /** Seconds until the server wants the next heartbeat. */
  interval: number;
  run?: RunAssignment;
  cancel: string[];
  /** A `run` that was present but unusable, described (the agent logs it). */
  invalidRun?: string;
  /** A new runner token offered (SPEC section 12): save it, then use it. */
  token?: { value: string; expiresAt: string | null };
  /** The whole desired list of instances; absent when the runner holds and should hold none. */
  instances?: DesiredInstance[];
  /** An `instances` list that was present but unusable, described (it is then ignored whole). */
  invalidInstances?: string;
}

export interface UpdateRequest {
  messageId: string;
  offset: number;
  logs: string;
}

export type RunStatus = 'finished' | 'failed' | 'timeout' | 'canceled';

export interface RunResult {
  id: string;
  status: RunStatus;
  exitCode?: number;
  outcome?: string;
  data?: Record<string, unknown>;
  logBytes?: number;
}

export interface CompleteRequest {
  messageId: string;
  result: RunResult;
}

/** The server lacks bytes before `expectedOffset`'s end: resend from there. */
export interface Gap {
  kind: 'gap';
  expectedOffset: number;
}

/** Stale lease, foreign run or final run: stop the run, never complete it. */
export interface Conflict {
  kind: 'conflict';
  message: string;
}

export type UpdateReply = { kind: 'ok'; offset: number; cancel: boolean } | Gap | Conflict;
export type CompleteReply = { kind: 'ok' } | Gap | Conflict;

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's default idle timeout (the long-polled heartbeat needs more). */
  timeoutMs?: number;
}

export class ApiClient {
  /** The runner token in use (shared with whoever rotates it), and the previous one. */
  readonly credentials: RunnerCredentials | undefined;

  constructor(
    private readonly baseUrl: string,
    private readonly transport: Transport,
    private readonly options: { token?: string | RunnerCredentials; timeoutMs: number },
  ) {
    const token = options.token;
    this.credentials = typeof token === 'string' ? new RunnerCredentials(token) : token;
  }

  /** A client for the same orchestrator that authenticates with `token`. */
  withToken(token: string): ApiClient {
    return new ApiClient(this.baseUrl, this.transport, { ...this.options, token });
  }

  async register(body: RegistrationRequest, call: CallOptions = {}): Promise<Registration> {
    const res = await this.send('POST', '/api/runner/registration', body, call, false);
    if (res.status !== 201 && res.status !== 200) throw toHttpError(res);
    const data = asRecord(res.body);
    if (typeof data.runner_id !== 'string' || typeof data.runner_token !== 'string') {
      throw new HttpError(res.status, 'registration answer lacks runner_id or runner_token');
    }
    return { runnerId: data.runner_id, runnerToken: data.runner_token };
  }

  async deregister(id: string, call: CallOptions = {}): Promise<void> {
    const res = await this.send('DELETE', '/api/runner/registration', { id }, call);
    if (res.status !== 200 && res.status !== 204) throw toHttpError(res);
  }

  async heartbeat(body: HeartbeatRequest, call: CallOptions = {}): Promise<HeartbeatReply> {
    const res = await this.send('POST', '/api/runner/heartbeat', body, call);
    if (res.status !== 200 && res.status !== 201) throw toHttpError(res);
    return parseHeartbeat(res.body);
  }

  async update(runId: string, body: UpdateRequest, call: CallOptions = {}): Promise<UpdateReply> {
    const res = await this.send('POST', `/api/runner/runs/${encodeURIComponent(runId)}/update`, body, call);
    if (res.status === 200 || res.status === 201) {
      const data = asRecord(res.body);
      const offset = typeof data.offset === 'number' ? data.offset : body.offset + Buffer.byteLength(body.logs);
      return { kind: 'ok', offset, cancel: data.cancel === true };
    }
    return protocolAnswer(res);
  }

  async complete(runnerId: string, projectId: string, body: CompleteRequest, call: CallOptions = {}): Promise<CompleteReply> {
    const path = `/api/runner/complete/${encodeURIComponent(runnerId)}/${encodeURIComponent(projectId)}`;
    const res = await this.send('POST', path, body, call);
    if (res.status === 200 || res.status === 201) return { kind: 'ok' };
    return protocolAnswer(res);
  }

  private async send(method: string, path: string, body: unknown, call: CallOptions, auth = true): Promise<HttpResponse> {
    const attempt = (token: string | undefined): Promise<HttpResponse> =>
      this.transport.request(method, this.url(path), {
        headers: token ? { authorization: `Bearer ${token}` } : {},
        body,
        timeoutMs: call.timeoutMs ?? this.options.timeoutMs,
        signal: call.signal,
      });
    if (!auth) return attempt(undefined);
    const credentials = this.credentials;
    if (!credentials?.current) throw new Error('no runner token: register the runner first');
    const token = credentials.current;
    const res = await attempt(token);
    // Refused: once more with the previous token (rotation, SPEC section 12).
    if (res.status === 401 && credentials.fallBack(token)) return attempt(credentials.current);
    return res;
  }

  /** The base url may carry a path prefix (an orchestrator behind `/pulse/`). */
  private url(path: string): URL {
    const base = new URL(this.baseUrl);
    base.pathname = `${base.pathname.replace(/\/+$/, '')}${path}`;
    base.search = '';
    base.hash = '';
    return base;
  }
}

/** 416 → gap, 409 → conflict, anything else thrown. */
function protocolAnswer(res: HttpResponse): Gap | Conflict {
  if (res.status === 416) {
    const expected = asRecord(res.body).expectedOffset;
    if (typeof expected === 'number' && Number.isInteger(expected) && expected >= 0) {
      return { kind: 'gap', expectedOffset: expected };
    }
    throw new HttpError(416, 'offset gap without a usable expectedOffset');
  }
  if (res.status === 409) {
    const message = asRecord(res.body).message;
    return { kind: 'conflict', message: typeof message === 'string' ? message : 'conflict' };
  }
  throw toHttpError(res);
}

function toHttpError(res: HttpResponse): HttpError {
  return new HttpError(res.status, res.body, parseRetryAfter(res.headers['retry-after']));
}

function asRecord(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function parseHeartbeat(body: unknown): HeartbeatReply {
  const heartbeat = asRecord(asRecord(body).heartbeat);
  const interval = typeof heartbeat.interval === 'number' && Number.isFinite(heartbeat.interval) ? heartbeat.interval : NaN;
  const cancel = Array.isArray(heartbeat.cancel) ? heartbeat.cancel.filter((id): id is string => typeof id === 'string') : [];
  const reply: HeartbeatReply = { status: typeof heartbeat.status === 'string' ? heartbeat.status : '', interval, cancel };
  const offer = asRecord(heartbeat.token);
  if (typeof offer.value === 'string' && offer.value !== '') {
    reply.token = { value: offer.value, expiresAt: typeof offer.expires_at === 'string' ? offer.expires_at : null };
  }
  if (heartbeat.run !== undefined && heartbeat.run !== null) {
    const run = parseAssignment(heartbeat.run);
    if (typeof run === 'string') reply.invalidRun = run;
    else reply.run = run;
  }
  if (heartbeat.instances !== undefined && heartbeat.instances !== null) {
    const instances = parseDesiredList(heartbeat.instances);
    if (typeof instances === 'string') reply.invalidInstances = instances;
    else reply.instances = instances;
  }
  return reply;
}

/**
 * The desired list, or a sentence saying what is wrong. One bad entry rejects the whole list: the
 * runner removes what the list leaves out, so a list read in part would destroy instances.
 */
export function parseDesiredList(value: unknown): DesiredInstance[] | string {
  if (!Array.isArray(value)) return 'instances is not an array';
  const out: DesiredInstance[] = [];
  for (const [i, entry] of value.entries()) {
    const item = asRecord(entry);
    const at = `instances[${i}]`;
    for (const field of ['id', 'name', 'uri'] as const) {
      if (typeof item[field] !== 'string' || item[field] === '') return `${at}.${field} is missing or not a string`;
    }
    const strings = (field: string): string[] | undefined => {
      const list = item[field] ?? [];
      return Array.isArray(list) && list.every((x): x is string => typeof x === 'string') ? list : undefined;
    };
    const environment = strings('environment');
    const ports = strings('ports');
    const command = item.command === undefined || item.command === null ? undefined : strings('command');
    if (!environment) return `${at}.environment is not an array of strings`;
    if (!ports || !ports.every((p) => /^(\d{1,5}:)?\d{1,5}$/.test(p))) return `${at}.ports must be strings like "8080" or "9000:8080"`;
    if (item.command !== undefined && item.command !== null && !command) return `${at}.command is not an array of strings`;
    if (item.state !== 'RUNNING' && item.state !== 'STOPPED') return `${at}.state must be RUNNING or STOPPED`;
    const r = numbers(asRecord(item.resources));
    out.push({
      id: item.id as string,
      name: item.name as string,
      uri: item.uri as string,
      ...(command && { command }),
      environment,
      resources: { cpu: r.cpu ?? 0, memory: r.memory ?? 0, disk: r.disk ?? 0 },
      ports,
      state: item.state,
      generation: typeof item.generation === 'number' && Number.isInteger(item.generation) ? item.generation : 0,
    });
  }
  return out;
}

/** The assignment, or a sentence saying which field is wrong. */
export function parseAssignment(value: unknown): RunAssignment | string {
  const run = asRecord(value);
  for (const field of ['id', 'project', 'messageId', 'repo'] as const) {
    if (typeof run[field] !== 'string' || run[field] === '') return `run.${field} is missing or not a string`;
  }
  const script = run.script;
  if (!Array.isArray(script) || !script.every((line): line is string => typeof line === 'string')) {
    return 'run.script is not an array of strings';
  }
  const env: Record<string, string> = {};
  for (const [key, val] of Object.entries(asRecord(run.env))) {
    if (typeof val !== 'string') return `run.env.${key} is not a string`;
    env[key] = val;
  }
  const timeout = typeof run.timeout === 'number' && run.timeout > 0 ? run.timeout : 0;
  if (run.masked !== undefined && (!Array.isArray(run.masked) || !run.masked.every((m) => typeof m === 'string'))) {
    return 'run.masked is not an array of strings';
  }
  const attempt = typeof run.attempt === 'number' ? run.attempt : 1;
  return {
    id: run.id as string,
    project: run.project as string,
    messageId: run.messageId as string,
    attempt,
    repo: run.repo as string,
    script,
    env,
    timeout,
    payload: run.payload,
    ...(typeof run.image === 'string' && run.image !== '' && { image: run.image }),
    ...(run.resources !== undefined && run.resources !== null && { resources: numbers(asRecord(run.resources)) }),
    ...(run.masked !== undefined && { masked: run.masked }),
  };
}

/** The numeric fields of an object (cpu, memory, disk). */
function numbers(value: Record<string, unknown>): Partial<Resources> {
  const out: Partial<Resources> = {};
  for (const key of ['cpu', 'memory', 'disk'] as const) {
    const v = value[key];
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) out[key] = v;
  }
  return out;
}
