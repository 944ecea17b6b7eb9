/**
 * Workloads and instances as the dashboard reads and writes them (SPEC section 10): which
 * actions an instance's status allows, its published ports in words, and the form fields turned
 * into a request body. Pure: unit-tested in instances.spec.ts. The server checks everything again;
 * these checks only say what is wrong before a request, next to the field, with the input kept.
 */
import type { InstanceResponse, PutWorkloadRequest, ResourcesDto } from './api-types';

export type InstanceStatus = InstanceResponse['status'];

/** Seed 002's statuses, in lifecycle order (the filter's choices). */
export const INSTANCE_STATUSES: readonly InstanceStatus[] = [
  'SCHEDULING',
  'SCHEDULED',
  'STARTING',
  'RUNNING',
  'CRASHED',
  'FAILED',
  'STOPPING',
  'STOPPED',
  'DESTROYING',
  'TERMINATED',
];

export interface InstanceActions {
  /** PATCH `{"state": "RUNNING"}`: a stopped one starts, a FAILED one is retried. */
  start: boolean;
  /** PATCH `{"state": "STOPPED"}` (its container is kept). */
  stop: boolean;
  /** DELETE: DESTROYING, then TERMINATED once its runner removed it. */
  delete: boolean;
}

/** What may be asked of an instance, read from what was asked last (`state`) and its status. */
export function instanceActions(i: Pick<InstanceResponse, 'state' | 'status'>): InstanceActions {
  if (i.state === 'DESTROYED' || i.status === 'TERMINATED') return { start: false, stop: false, delete: false };
  return {
    start: i.state === 'STOPPED' || i.status === 'FAILED',
    stop: i.state === 'RUNNING',
    delete: true,
  };
}

/** `"8080"` (the engine picks the host port) or `"9000:8080"`, as the API validates them. */
const PORT = /^(?:([1-9]\d{0,4}):)?([1-9]\d{0,4})$/;

/**
 * One port entry in words: published `"32768:8080"` on `10.0.0.5` → `10.0.0.5:32768 → 8080`;
 * not yet published `"8080"` → `8080 (host port picked at start)`.
 */
export function portText(ip: string | null, port: string): string {
  const m = PORT.exec(port);
  if (!m) return port;
  const [, host, container] = m;
  if (host === undefined) return `${container} (host port picked at start)`;
  return `${ip ?? ''}${ip ? ':' : 'host '}${host} → ${container}`;
}

/** The fields of the workload and inline-instance forms, as typed. */
export interface TemplateForm {
  name: string;
  uri: string;
  /** One argument per line (no shell quoting to get wrong). */
  command: string;
  /** `NAME=value`, one per line; blank lines and `#` comments are skipped. */
  environment: string;
  /** Comma or space separated. */
  ports: string;
  /** Comma separated. */
  labels: string;
  cpu: string;
  memory: string;
  disk: string;
}

export const EMPTY_TEMPLATE: TemplateForm = { name: '', uri: '', command: '', environment: '', ports: '', labels: '', cpu: '', memory: '', disk: '' };

/** A form field that does not parse: the message names the field (and the line). */
export class FieldError extends Error {
  constructor(
    readonly field: keyof TemplateForm,
    message: string,
  ) {
    super(message);
  }
}

/** `NAME=value` lines → `["NAME=value"]`; the value is kept as typed (spaces and `=` included). */
export function environmentLines(text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) return;
    const entry = line.trimStart();
    if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(entry)) {
      throw new FieldError('environment', `Environment line ${i + 1}: write NAME=value (NAME: letters, digits, _; not starting with a digit)`);
    }
    out.push(entry);
  });
  return out;
}

/** `"8080, 9000:80"` → `["8080", "9000:80"]`; a bad entry, a port over 65535 or one listed twice is an error. */
export function portList(text: string): string[] {
  const ports = text.split(/[\s,]+/).filter(Boolean);
  const hosts = new Set<string>();
  const containers = new Set<string>();
  for (const p of ports) {
    const m = PORT.exec(p);
    if (!m) throw new FieldError('ports', `Ports: "${p}" is not "8080" or "9000:8080"`);
    const [, host, container] = m;
    if (Number(container) > 65535 || (host !== undefined && Number(host) > 65535)) throw new FieldError('ports', `Ports: ${p} is not a port (1 to 65535)`);
    if (containers.has(container)) throw new FieldError('ports', `Ports: container port ${container} is listed twice`);
    containers.add(container);
    if (host !== undefined) {
      if (hosts.has(host)) throw new FieldError('ports', `Ports: host port ${host} is listed twice`);
      hosts.add(host);
    }
  }
  return ports;
}

function amount(field: 'cpu' | 'memory' | 'disk', text: string): number | undefined {
  const t = text.trim();
  if (!t) return undefined;
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t)) || Number(t) > 2147483647) {
    const what = field === 'cpu' ? 'CPU cores' : field === 'memory' ? 'Memory (MiB)' : 'Disk (MiB)';
    throw new FieldError(field, `${what}: a whole number, 0 or more`);
  }
  return Number(t);
}

/** The three amounts; undefined when none was given (the server's default: no claim). */
export function resources(form: Pick<TemplateForm, 'cpu' | 'memory' | 'disk'>): ResourcesDto | undefined {
  const out: ResourcesDto = {};
  for (const f of ['cpu', 'memory', 'disk'] as const) {
    const v = amount(f, form[f]);
    if (v !== undefined) out[f] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

/**
 * The form → the template part of a `PUT /api/workloads` or inline `PUT /api/instances` body:
 * empty fields are left out (the server's defaults apply). Throws a FieldError for the first
 * field that does not parse.
 */
export function templateBody(form: TemplateForm): PutWorkloadRequest {
  const body: PutWorkloadRequest = { name: form.name.trim(), uri: form.uri.trim() };
  const command = form.command
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '');
  if (command.length) body.command = command;
  const environment = environmentLines(form.environment);
  if (environment.length) body.environment = environment;
  const ports = portList(form.ports);
  if (ports.length) body.ports = ports;
  const labels = form.labels
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (labels.length) body.labels = labels;
  const res = resources(form);
  if (res) body.resources = res;
  return body;
}

/** `{cpu: 1, memory: 64, disk: 0}` → `1 CPU, 64 MiB memory` (zero amounts are no claim). */
export function resourcesText(r: { cpu: number; memory: number; disk: number }): string {
  const parts = [r.cpu ? `${r.cpu} CPU` : '', r.memory ? `${r.memory} MiB memory` : '', r.disk ? `${r.disk} MiB disk` : ''].filter(Boolean);
  return parts.length ? parts.join(', ') : 'none claimed';
}

/** The names of `NAME=value` entries (the dashboard lists names, not values). */
export function environmentNames(entries: readonly string[]): string[] {
  return entries.map((e) => e.slice(0, Math.max(0, e.indexOf('='))) || e);
}
