/**
 * The container engine of the container tests (SPEC section 9): found through
 * PULSE_TEST_CONTAINER_ENGINE (`unix:///path`, set by .ci/run from scripts/podman-test-env.sh).
 * Where none can be had the suites skip with a loud warning, except under CI=true, where they
 * fail: CI must never pass by skipping them.
 */
import * as http from 'node:http';

/** Images scripts/podman-test-env.sh builds locally (there is no registry). */
export const BUSYBOX_IMAGE = 'localhost/pulse-test:busybox';
export const BASH_IMAGE = 'localhost/pulse-test:bash';

export interface TestEngine {
  /** `unix:///path`, for `--container-engine`. */
  url: string;
  socketPath: string;
}

/** The engine to test with, or undefined (after a loud warning) when there is none here. */
export function testEngine(): TestEngine | undefined {
  const url = process.env.PULSE_TEST_CONTAINER_ENGINE;
  const match = url ? /^unix:\/\/(\/.+)$/.exec(url) : null;
  if (match) return { url: url as string, socketPath: match[1] };
  const message =
    'PULSE_TEST_CONTAINER_ENGINE is not set: the container tests need a Docker API socket. ' +
    'Run `eval "$(bash scripts/podman-test-env.sh)"` first (it installs Podman and serves the API).';
  if (process.env.CI === 'true') throw new Error(`${message} Under CI=true they must not be skipped.`);
  console.warn(`\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n!!! SKIPPING THE CONTAINER TESTS: ${message}\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n`);
  return undefined;
}

function call(engine: TestEngine, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: engine.socketPath, method, path: `/v1.40${path}`, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

export interface EngineContainer {
  Id: string;
  Names: string[];
  Labels: Record<string, string> | null;
  State: string;
}

/** Containers (running or not) that carry every `key=value` label given. */
export async function containersLabelled(engine: TestEngine, labels: string[]): Promise<EngineContainer[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: labels }));
  const res = await call(engine, 'GET', `/containers/json?all=1&filters=${filters}`);
  if (res.status !== 200) throw new Error(`list containers: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as EngineContainer[];
}

export async function removeContainers(engine: TestEngine, labels: string[]): Promise<void> {
  for (const c of await containersLabelled(engine, labels)) await call(engine, 'DELETE', `/containers/${c.Id}?force=1&v=1`);
}

export interface EngineInspect {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; ExitCode: number; StartedAt: string };
  Config: { Labels: Record<string, string> | null };
}

/** GET /containers/{id}/json; undefined when there is no such container. */
export async function inspectContainer(engine: TestEngine, idOrName: string): Promise<EngineInspect | undefined> {
  const res = await call(engine, 'GET', `/containers/${encodeURIComponent(idOrName)}/json`);
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`inspect ${idOrName}: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as EngineInspect;
}
