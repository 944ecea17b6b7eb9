/* eslint-disable @typescript-eslint/no-explicit-any -- a bench harness: untyped JSON bodies */
/**
 * Scenario 8, runs in containers (SPEC section 9), with the real runner process and a real
 * engine (PULSE_TEST_CONTAINER_ENGINE, as the tests use: `eval "$(bash scripts/podman-test-env.sh)"`):
 *
 * - container overhead: submit → finished of `true` in a container (a local image, pull policy
 *   never) minus the same on the shell executor of the same runner, medians of a few runs each,
 *   from the server's own timestamps (created_at → finished_at). Target ≤ 1 s.
 * - 20 container runs (tiny: 6) on 2 runners: all finish, and the engine holds zero containers of either
 *   runner afterwards.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { JsonClient } from './lib/http';
import { createDatabase } from './lib/pg';
import { ADMIN_TOKEN, ORCHESTRATOR_MAIN, REGISTRATION_TOKEN, orchestratorEnv, spawnServer } from './lib/server';
import { sleep } from './lib/util';
import type { Ctx, Scenario } from './scenarios';

/** dist/bench → the built runner CLI. */
const RUNNER_CLI = resolve(__dirname, '..', '..', 'runner', 'dist', 'cli.js');
const NAMESPACE = 'containers';
const FINAL = ['finished', 'failed', 'timeout', 'canceled'];

export interface BenchRunner {
  id: string;
  dir: string;
  configPath: string;
  proc?: ChildProcess;
}

export function listContainers(socketPath: string, label: string): Promise<unknown[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
  return new Promise((done, fail) => {
    const req = http.request({ socketPath, path: `/v1.40/containers/json?all=1&filters=${filters}`, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => (res.statusCode === 200 ? done(JSON.parse(body) as unknown[]) : fail(new Error(`list: ${res.statusCode} ${body}`))));
    });
    req.once('error', fail);
    req.end();
  });
}

function makeRepo(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-repo-'));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, GIT_CONFIG_NOSYSTEM: '1' };
  const git = (...args: string[]): void => void execFileSync('git', ['-c', 'user.email=b@example.com', '-c', 'user.name=bench', ...args], { cwd: dir, env, stdio: 'ignore' });
  git('init', '--quiet');
  writeFileSync(join(dir, 'README.md'), '# bench\n');
  git('add', '--all');
  git('commit', '--quiet', '-m', 'bench');
  return dir;
}

export function register(url: string, engine: string, name: string, labels: string[] = []): BenchRunner {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-bench-runner-'));
  const configPath = join(dir, 'config.json');
  mkdirSync(join(dir, 'work'));
  execFileSync(process.execPath, [RUNNER_CLI, 'register', '--url', url, '--registration-token', REGISTRATION_TOKEN, '--config', configPath, '--name', name, '--container-engine', engine, ...(labels.length ? ['--labels', labels.join(',')] : [])], {
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    stdio: 'ignore',
  });
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { runnerId: string };
  return { id: config.runnerId, dir, configPath };
}

export function start(r: BenchRunner, engine: string, extra: string[] = []): void {
  r.proc = spawn(
    process.execPath,
    [RUNNER_CLI, 'start', '--config', r.configPath, '--work-dir', join(r.dir, 'work'), '--allow-local-repos', '--wait', '5', '--container-engine', engine, '--pull-policy', 'never', '--log-level', 'warn', ...extra],
    { env: { PATH: process.env.PATH ?? '', HOME: r.dir }, stdio: 'ignore' },
  );
}

export async function stopRunner(r: BenchRunner): Promise<void> {
  const proc = r.proc;
  if (proc && proc.exitCode === null && proc.signalCode === null) {
    const exited = new Promise((done) => proc.once('exit', done));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(r.dir, { recursive: true, force: true });
}

async function submit(client: JsonClient, body: Record<string, unknown>): Promise<string[]> {
  // A run that hangs in the engine ends as `timeout` (and the check says so) instead of holding the bench.
  const res = await client.post('/api/runs', { namespace: NAMESPACE, script: 'true', timeout: 90, ...body }, ADMIN_TOKEN);
  if (res.status !== 201) throw new Error(`POST /api/runs answered ${res.status}: ${JSON.stringify(res.body).slice(0, 300)}`);
  return res.body.runs as string[];
}

/** Polls until every run is final; returns their details. */
async function finals(client: JsonClient, ids: string[], timeoutMs: number): Promise<Array<Record<string, any>>> {
  const deadline = Date.now() + timeoutMs;
  const done = new Map<string, Record<string, any>>();
  while (done.size < ids.length) {
    // Past the deadline, the runs not final yet are returned as they are: the checks name them.
    if (Date.now() > deadline) break;
    for (const id of ids) {
      if (done.has(id)) continue;
      const res = await client.request('GET', `/api/runs/${id}`, undefined, ADMIN_TOKEN);
      if (FINAL.includes(res.body?.state as string)) done.set(id, res.body as Record<string, any>);
    }
    if (done.size < ids.length) await sleep(50);
  }
  return ids.map((id) => done.get(id) ?? { id, state: `not final after ${timeoutMs / 1000} s` });
}

/** For each run that did not finish: id, state, exit code, host and the tail of its log. */
async function explainUnfinished(client: JsonClient, runs: Array<Record<string, any>>): Promise<string> {
  const parts: string[] = [];
  for (const run of runs.filter((r) => r.state !== 'finished')) {
    const logs = await client.request('GET', `/api/runs/${run.id as string}/logs`, undefined, ADMIN_TOKEN).catch((err: Error) => ({ status: 0, body: err.message }));
    const text = typeof logs.body === 'string' ? logs.body : JSON.stringify(logs.body);
    const tail = text.trimEnd().split('\n').slice(-8).join(' | ');
    parts.push(`run ${run.id as string}: state ${run.state as string}, exit_code ${String(run.exit_code)}, host ${String(run.host)}, log tail: ${tail}`);
  }
  return parts.length ? `; ${parts.join('; ')}` : '';
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** created_at → finished_at of one run, in seconds, one at a time so runs never queue. */
async function oneAtATime(client: JsonClient, n: number, body: Record<string, unknown>): Promise<{ seconds: number[]; states: string[] }> {
  const seconds: number[] = [];
  const states: string[] = [];
  for (let i = 0; i < n; i++) {
    const [id] = await submit(client, body);
    const [run] = await finals(client, [id], 120000);
    states.push(run.state as string);
    if (run.finished_at) seconds.push((Date.parse(run.finished_at as string) - Date.parse(run.created_at as string)) / 1000);
  }
  return { seconds, states };
}

export async function containerRuns(ctx: Ctx, s: Scenario): Promise<void> {
  const engine = process.env.PULSE_TEST_CONTAINER_ENGINE ?? '';
  const socket = /^unix:\/\/(\/.+)$/.exec(engine)?.[1];
  if (!socket) {
    s.check('a container engine', false, 'PULSE_TEST_CONTAINER_ENGINE is not set: run `eval "$(bash scripts/podman-test-env.sh)"` first');
    return;
  }
  const image = process.env.PULSE_BENCH_IMAGE ?? 'localhost/pulse-test:busybox';
  const samples = ctx.scale.mode === 'full' ? 10 : ctx.scale.mode === 'quick' ? 5 : 3;

  // The orchestrator, the runners, the database and the repository go in every case.
  try {
    const db = await createDatabase('s8');
    s.defer(() => db.drop());
    const orch = await spawnServer(ORCHESTRATOR_MAIN, orchestratorEnv(db.url, { HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '5' }));
    s.defer(() => orch.stop());
    const client = new JsonClient(orch.url);
    s.defer(async () => client.close());
    const repo = makeRepo();
    s.defer(async () => rmSync(repo, { recursive: true, force: true }));
    const put = await client.request('PUT', '/api/namespaces', { namespace_name: NAMESPACE, repositories: [repo] }, ADMIN_TOKEN);
    if (put.status >= 300) throw new Error(`PUT /api/namespaces answered ${put.status}`);

    const runners = [register(orch.url, engine, 'bench-c1'), register(orch.url, engine, 'bench-c2')];
    for (const r of runners) s.defer(() => stopRunner(r));

    // Overhead: one runner only, so every run finds it idle and long-polling.
    start(runners[0], engine);
    await sleep(1500);
    ctx.progress(`container overhead: ${samples} runs of \`true\` on the shell executor, ${samples} in ${image}`);
    await oneAtATime(client, 1, { script: 'true' }); // warm-up: first clone, first heartbeat after start
    await oneAtATime(client, 1, { script: 'true', image });
    const shell = await oneAtATime(client, samples, { script: 'true' });
    const container = await oneAtATime(client, samples, { script: 'true', image });
    const overhead = median(container.seconds) - median(shell.seconds);
    s.row({
      metric: 'container run overhead (submit → finished, median, minus the shell executor)',
      unit: 's',
      ours: overhead,
      reference: null,
      referenceName: '',
      target: '≤ 1 s',
      check: (ours) => ours <= 1,
    });
    s.row({ metric: 'submit → finished of `true`, shell executor (median)', unit: 's', ours: median(shell.seconds), reference: null, referenceName: '', target: '' });
    s.row({ metric: 'submit → finished of `true`, in a container (median)', unit: 's', ours: median(container.seconds), reference: null, referenceName: '', target: '' });
    s.check('every overhead run finished', [...shell.states, ...container.states].every((st) => st === 'finished'), [...shell.states, ...container.states].join(','));
    s.raw.overhead = { shell: shell.seconds, container: container.seconds, image };

    // 20 container runs on 2 runners (tiny: 6), then an empty engine.
    const many = ctx.scale.mode === 'tiny' ? 6 : 20;
    start(runners[1], engine);
    await sleep(1500);
    ctx.progress(`${many} container runs on 2 runners`);
    const ids = await submit(client, { script: ['echo "$PULSE_RUN_ID"', 'sleep 0.2'], image, jobs: Array.from({ length: many }, () => ({ repo })) });
    const started = Date.now();
    const runs = await finals(client, ids, 300000);
    const finished = runs.filter((r) => r.state === 'finished').length;
    s.row({ metric: `${many} container runs on 2 runners, wall`, unit: 's', ours: (Date.now() - started) / 1000, reference: null, referenceName: '', target: '' });
    s.check(`${many} container runs finished`, finished === many, `${finished} of ${many} finished${await explainUnfinished(client, runs)}`);
    const hosts = new Set(runs.map((r) => r.host as string));
    s.check('both runners ran some', hosts.size === 2, `${hosts.size} runner(s)`);
    let left = -1;
    for (let i = 0; i < 50; i++) {
      left = 0;
      for (const r of runners) left += (await listContainers(socket, `pulse.runner=${r.id}`)).length;
      if (left === 0) break;
      await sleep(200);
    }
    s.check('zero containers left on the engine', left === 0, `${left} left`);
  } finally {
    await s.cleanup();
  }
}
