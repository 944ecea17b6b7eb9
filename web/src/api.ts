/**
 * The dashboard's one API client: one typed function per route it uses, types generated from the
 * orchestrator's OpenAPI document (api-types.ts). Every call carries the tab's token (ADMIN_TOKEN or
 * an API token); a 401 signs the tab out; any other error (a 403 for a scope the token lacks too)
 * becomes an ApiError whose message is the server's words.
 */
import type {
  AuditListResponse,
  BatchListResponse,
  BatchResponse,
  CreatedRegistrationToken,
  CreatedToken,
  CreateRegistrationTokenRequest,
  CreateTokenRequest,
  InstancePage,
  InstanceResponse,
  NamespaceResponse,
  PatchInstanceRequest,
  PutInstanceRequest,
  PutNamespaceRequest,
  PutSecretRequest,
  PutWorkloadRequest,
  RegistrationTokenListResponse,
  RegistrationTokenSummary,
  RunDetail,
  RunListResponse,
  RunnerDetail,
  RunnerListResponse,
  SecretResponse,
  SubmitRunsRequest,
  SubmitRunsResponse,
  TokenListResponse,
  TokenSummary,
  WhoAmIResponse,
  WorkloadPage,
  WorkloadResponse,
} from './api-types';
import { signOut, token } from './auth';

export type {
  AuditEntry,
  AuditSubjectDto,
  BatchListResponse,
  BatchResponse,
  BatchSummary,
  ContainerFactsDto,
  CreatedRegistrationToken,
  CreatedToken,
  InstanceResponse,
  NamespaceResponse,
  PutInstanceRequest,
  PutWorkloadRequest,
  RegistrationTokenSummary,
  RunDetail,
  RunSummary,
  RunnerDetail,
  RunnerSummary,
  SecretResponse,
  SubmitRunsRequest,
  TokenSummary,
  WhoAmIResponse,
  WorkloadResponse,
} from './api-types';

export const RUN_STATES = ['waiting', 'running', 'finished', 'failed', 'canceled', 'timeout'] as const;
export type RunState = (typeof RUN_STATES)[number];
export const FINAL_STATES: readonly string[] = ['finished', 'failed', 'canceled', 'timeout'];

export function isFinal(state: string): boolean {
  return FINAL_STATES.includes(state);
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The headers every call sends. */
export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const t = token();
  return { ...(t && { Authorization: `Bearer ${t}` }), ...extra };
}

/** Turns a failed response into an ApiError (and a 401 into a sign-out). */
export async function failure(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = (await res.json()) as { message?: string | string[] };
    if (Array.isArray(body.message)) message = body.message.join('; ');
    else if (typeof body.message === 'string') message = body.message;
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 401) signOut('The orchestrator refused this token. Sign in again.');
  return new ApiError(res.status, message);
}

/** fetch() with the token; a network failure becomes an ApiError in words. */
export async function send(path: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await fetch(path, { cache: 'no-store', ...init, headers: authHeaders(init.headers as Record<string, string>) });
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'Cannot reach the orchestrator. Is it running?');
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await send(path, {
    method,
    ...(body !== undefined && { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
  });
  if (!res.ok) throw await failure(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

export interface RunFilter {
  state?: string;
  namespace?: string;
  batch?: string;
  runner?: string;
  cursor?: string;
  limit?: number;
}

export const api = {
  runs: (f: RunFilter = {}) => call<RunListResponse>('GET', `/api/runs${query({ ...f })}`),
  run: (id: string) => call<RunDetail>('GET', `/api/runs/${enc(id)}`),
  cancelRun: (id: string) => call<RunDetail>('DELETE', `/api/runs/${enc(id)}`),
  submit: (body: SubmitRunsRequest) => call<SubmitRunsResponse>('POST', '/api/runs', body),
  batches: (f: { namespace?: string; cursor?: string; limit?: number } = {}) =>
    call<BatchListResponse>('GET', `/api/batches${query(f)}`),
  batch: (id: string) => call<BatchResponse>('GET', `/api/batches/${enc(id)}`),
  cancelBatch: (id: string) => call<unknown>('DELETE', `/api/batches/${enc(id)}`),
  runners: (f: { cursor?: string; limit?: number } = {}) => call<RunnerListResponse>('GET', `/api/runners${query(f)}`),
  runner: (id: string) => call<RunnerDetail>('GET', `/api/runners/${enc(id)}`),
  enableRunner: (id: string) => call<unknown>('POST', `/api/runners/${enc(id)}/enable`),
  disableRunner: (id: string) => call<unknown>('POST', `/api/runners/${enc(id)}/disable`),
  deregisterRunner: (id: string) => call<unknown>('DELETE', `/api/runners/${enc(id)}`),
  namespaces: () => call<NamespaceResponse[]>('GET', '/api/namespaces'),
  namespace: (name: string) => call<NamespaceResponse>('GET', `/api/namespaces/${enc(name)}`),
  putNamespace: (body: PutNamespaceRequest) => call<NamespaceResponse>('PUT', '/api/namespaces', body),
  deleteNamespace: (name: string) => call<NamespaceResponse>('DELETE', `/api/namespaces/${enc(name)}`),
  secrets: (namespace: string) => call<SecretResponse[]>('GET', `/api/namespaces/${enc(namespace)}/secrets`),
  putSecret: (namespace: string, name: string, value: string) =>
    call<SecretResponse>('PUT', `/api/namespaces/${enc(namespace)}/secrets/${enc(name)}`, { value } satisfies PutSecretRequest),
  deleteSecret: (namespace: string, name: string) => call<void>('DELETE', `/api/namespaces/${enc(namespace)}/secrets/${enc(name)}`),
  rotateRunnerToken: (id: string) => call<RunnerDetail>('POST', `/api/runners/${enc(id)}/rotate-token`),
  whoami: () => call<WhoAmIResponse>('GET', '/api/whoami'),
  tokens: (f: { cursor?: string; limit?: number } = {}) => call<TokenListResponse>('GET', `/api/tokens${query(f)}`),
  createToken: (body: CreateTokenRequest) => call<CreatedToken>('POST', '/api/tokens', body),
  revokeToken: (id: string) => call<TokenSummary>('DELETE', `/api/tokens/${enc(id)}`),
  registrationTokens: (f: { cursor?: string; limit?: number } = {}) =>
    call<RegistrationTokenListResponse>('GET', `/api/registration-tokens${query(f)}`),
  createRegistrationToken: (body: CreateRegistrationTokenRequest) =>
    call<CreatedRegistrationToken>('POST', '/api/registration-tokens', body),
  revokeRegistrationToken: (id: string) => call<RegistrationTokenSummary>('DELETE', `/api/registration-tokens/${enc(id)}`),
  workloads: (f: { cursor?: string; limit?: number } = {}) => call<WorkloadPage>('GET', `/api/workloads${query(f)}`),
  createWorkload: (body: PutWorkloadRequest) => call<WorkloadResponse>('PUT', '/api/workloads', body),
  deleteWorkload: (id: string) => call<WorkloadResponse>('DELETE', `/api/workloads/${enc(id)}`),
  instances: (f: { state?: string; runner?: string; cursor?: string; limit?: number } = {}) => call<InstancePage>('GET', `/api/instances${query(f)}`),
  instance: (id: string) => call<InstanceResponse>('GET', `/api/instances/${enc(id)}`),
  createInstance: (body: PutInstanceRequest) => call<InstanceResponse>('PUT', '/api/instances', body),
  changeInstance: (id: string, body: PatchInstanceRequest) => call<InstanceResponse>('PATCH', `/api/instances/${enc(id)}`, body),
  destroyInstance: (id: string) => call<InstanceResponse>('DELETE', `/api/instances/${enc(id)}`),
  audit: (f: { action?: string; since?: string; cursor?: string; limit?: number } = {}) =>
    call<AuditListResponse>('GET', `/api/audit${query(f)}`),
};

/** Words for any error a page catches. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError) return err.status ? `${err.message} (HTTP ${err.status})` : err.message;
  return err instanceof Error ? err.message : String(err);
}
