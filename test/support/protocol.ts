import type { TestPulse } from './pulse';
import { REGISTRATION_TOKEN } from './pulse';

export interface Assignment {
  id: string;
  project: string;
  messageId: string;
  attempt: number;
  repo: string;
  script: string[];
  env: Record<string, string>;
  timeout: number;
  payload?: Record<string, unknown>;
}

export interface HeartbeatBody {
  status: 'ok';
  interval: number;
  run?: Assignment;
  cancel?: string[];
  /** A new runner token offered (SPEC section 12). */
  token?: { value: string; expires_at: string | null };
  /** The whole desired list of instances (SPEC section 10). */
  instances?: DesiredInstance[];
}

/** One entry of a heartbeat's desired list of instances (SPEC section 10). */
export interface DesiredInstance {
  id: string;
  name: string;
  uri: string;
  command?: string[];
  environment: string[];
  resources: { cpu: number; memory: number; disk: number };
  ports: string[];
  state: 'RUNNING' | 'STOPPED';
  generation: number;
}

/** What a runner reports of an instance it holds (heartbeat `instances`). */
export interface InstanceReport {
  id: string;
  status: 'STARTING' | 'RUNNING' | 'CRASHED' | 'FAILED' | 'STOPPING' | 'STOPPED';
  description?: string;
  ip?: string;
  ports?: string[];
  restarts?: number;
  generation?: number;
}

/** Container facts of a runner with a healthy engine: what placement needs (SPEC sections 9, 10). */
export const ENGINE = {
  container: { engine: 'podman', version: '5.0', apiVersion: '1.41', os: 'linux', arch: 'amd64', healthy: true },
  executors: ['container'],
};

/** A scripted runner speaking the protocol over HTTP, for tests that drive each call by hand. */
export class TestRunner {
  constructor(
    private readonly pulse: TestPulse,
    readonly id: string,
    readonly token: string,
  ) {}

  static async register(pulse: TestPulse, body: Record<string, unknown> = {}): Promise<TestRunner> {
    const res = await pulse.http
      .post('/api/runner/registration')
      .send({ token: REGISTRATION_TOKEN, ...body })
      .expect(201);
    return new TestRunner(pulse, res.body.runner_id as string, res.body.runner_token as string);
  }

  get auth(): { Authorization: string } {
    return { Authorization: `Bearer ${this.token}` };
  }

  heartbeatRaw(body: Record<string, unknown>) {
    return this.pulse.http.post('/api/runner/heartbeat').set(this.auth).send({ id: this.id, ...body });
  }

  async heartbeat(body: Record<string, unknown> = { status: 'ready', runs: [] }): Promise<HeartbeatBody> {
    const res = await this.heartbeatRaw(body).expect(200);
    return res.body.heartbeat as HeartbeatBody;
  }

  update(run: Assignment, offset: number, logs: string, messageId = run.messageId) {
    return this.pulse.http
      .post(`/api/runner/runs/${run.id}/update`)
      .set(this.auth)
      .send({ messageId, offset, logs });
  }

  complete(run: Assignment, result: Record<string, unknown>, messageId = run.messageId) {
    return this.pulse.http
      .post(`/api/runner/complete/${this.id}/${run.project}`)
      .set(this.auth)
      .send({ messageId, result: { id: run.id, ...result } });
  }

  deregister() {
    return this.pulse.http.delete('/api/runner/registration').set(this.auth).send({ id: this.id });
  }
}

/** PUT a namespace and submit runs into it; returns the submission response body. */
export async function submit(
  pulse: TestPulse,
  body: Record<string, unknown>,
  repositories = ['https://example.com/a.git'],
): Promise<{ batch_id: string; runs: string[] }> {
  const namespace = (body.namespace as string) ?? 'default';
  await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: namespace, repositories });
  const res = await pulse.http
    .post('/api/runs')
    .set(pulse.admin)
    .send({ namespace, script: 'echo hi', ...body });
  if (res.status !== 201) throw new Error(`submission failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { batch_id: string; runs: string[] };
}
