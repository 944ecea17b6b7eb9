/**
 * Scenario 14 (issue 12, SPEC section 10): workloads and instances.
 *
 * - Placement: 1,000 instances (tiny: 100) created at once, 20 requests in flight, on 100 (tiny:
 *   10) scripted runners with a healthy engine and room for exactly the instances: instances
 *   placed per second, and a check that no runner is over its resources.
 * - Stop latency: a scripted runner long-polls its heartbeat holding a RUNNING instance; the time
 *   from PATCH {"state":"STOPPED"} to the moment its answer carries the STOPPED entry and its
 *   next report makes the instance STOPPED (no engine: the engine's stop time is not included).
 * - The same with the real runner and engine (PULSE_TEST_CONTAINER_ENGINE, as scenario 8): a
 *   busybox httpd instance, PATCH STOPPED → GET says STOPPED, against the engine's own stop of
 *   the same kind of container (POST /containers/{id}/stop, measured from here) as the reference:
 *   the target is the engine's stop time plus at most 1 s.
 */
import * as nodeHttp from 'node:http';
import { register, start, stopRunner } from './containers';
import { JsonClient } from './lib/http';
import { createDatabase, withClient } from './lib/pg';
import { ADMIN_TOKEN, ORCHESTRATOR_MAIN, orchestratorEnv, REGISTRATION_TOKEN, spawnServer } from './lib/server';
import { percentile, wallMs } from './lib/util';
import type { Ctx, Scenario } from './scenarios';

const ENGINE = {
  container: { engine: 'podman', version: '5.0', apiVersion: '1.41', os: 'linux', arch: 'amd64', healthy: true },
  executors: ['container'],
};

interface Registered {
  id: string;
  token: string;
}

export async function instancePlacement(ctx: Ctx, s: Scenario): Promise<void> {
  const tiny = ctx.scale.mode === 'tiny';
  const runnerCount = tiny ? 10 : 100;
  const perRunner = 10;
  const instanceCount = runnerCount * perRunner;
  try {
    const db = await createDatabase('s14');
    s.defer(() => db.drop());
    const orch = await spawnServer(ORCHESTRATOR_MAIN, orchestratorEnv(db.url, { LONG_POLL_MAX: '20' }));
    s.defer(() => orch.stop());
    const http = new JsonClient(orch.url);
    s.defer(async () => http.close());

    ctx.progress(`registering ${runnerCount} scripted runners with room for ${perRunner} instances each`);
    const runners: Registered[] = [];
    for (let i = 0; i < runnerCount; i++) {
      const res = await http.request('POST', '/api/runner/registration', {
        token: REGISTRATION_TOKEN,
        labels: ['s14'],
        resources: { cpu: perRunner, memory: perRunner * 100, disk: perRunner * 100 },
        ...ENGINE,
      });
      if (res.status !== 201) throw new Error(`registration answered ${res.status}`);
      runners.push({ id: res.body.runner_id, token: res.body.runner_token });
    }
    const beat = (r: Registered, body: Record<string, unknown> = {}) =>
      http.request('POST', '/api/runner/heartbeat', { id: r.id, status: 'ready', runs: [], instances: [], ...ENGINE, ...body }, r.token, 60_000);
    for (const r of runners) await beat(r);

    ctx.progress(`creating ${instanceCount} instances, 20 at a time`);
    let next = 0;
    let errors = 0;
    const started = wallMs();
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < instanceCount) {
          next++;
          const res = await http.request('PUT', '/api/instances', { uri: 'busybox', labels: ['s14'], resources: { cpu: 1, memory: 100, disk: 100 } }, ADMIN_TOKEN);
          if (res.status !== 201) errors++;
        }
      }),
    );
    const seconds = (wallMs() - started) / 1000;
    const placement = await withClient(db.url, async (c) => {
      const placed = (await c.query(`SELECT count(*)::int AS n FROM instance WHERE runner_id IS NOT NULL`)).rows[0].n as number;
      const over = (
        await c.query(
          `SELECT count(*)::int AS n FROM (
             SELECT w.id FROM runner w JOIN instance i ON i.runner_id = w.id AND i.status NOT IN ('TERMINATED', 'FAILED')
             GROUP BY w.id, w.res_cpu, w.res_memory, w.res_disk
             HAVING sum(i.res_cpu) > w.res_cpu OR sum(i.res_memory) > w.res_memory OR sum(i.res_disk) > w.res_disk) x`,
        )
      ).rows[0].n as number;
      return { placed, over };
    });
    s.check('every instance created (201)', errors === 0, `${errors} errors`);
    s.check('every instance placed', placement.placed === instanceCount, `${placement.placed} of ${instanceCount}`);
    s.check('no runner over its resources', placement.over === 0, `${placement.over} runner(s) over`);
    s.row({ metric: `instances placed per second (${instanceCount} on ${runnerCount} runners)`, unit: '/s', ours: placement.placed / seconds, reference: null, referenceName: '—', target: '—' });

    // Stop latency: one runner long-polls holding its RUNNING instances; PATCH one to STOPPED.
    const rounds = tiny ? 3 : 10;
    ctx.progress(`PATCH STOPPED → the runner's report of STOPPED, ${rounds} times`);
    const r = runners[0];
    const held = (await beat(r)).body.heartbeat.instances as Array<{ id: string; generation: number }>;
    const running = held.map((i) => ({ id: i.id, status: 'RUNNING', generation: i.generation }));
    await beat(r, { instances: running });
    const latencies: number[] = [];
    for (let k = 0; k < rounds && k < running.length; k++) {
      const target = running[k];
      const poll = beat(r, { instances: running, wait: 20 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const t0 = wallMs();
      const patched = await http.request('PATCH', `/api/instances/${target.id}`, { state: 'STOPPED' }, ADMIN_TOKEN);
      if (patched.status !== 200) throw new Error(`PATCH answered ${patched.status}`);
      const answer = await poll;
      const entry = (answer.body.heartbeat.instances as Array<{ id: string; state: string }>).find((i) => i.id === target.id);
      target.status = entry?.state === 'STOPPED' ? 'STOPPED' : target.status;
      await beat(r, { instances: running });
      const now = await http.request('GET', `/api/instances/${target.id}`, undefined, ADMIN_TOKEN);
      if (now.body.status === 'STOPPED') latencies.push(wallMs() - t0);
    }
    s.check('every stop reached the runner and was reported', latencies.length === rounds, `${latencies.length} of ${rounds}`);
    s.row({
      metric: 'PATCH STOPPED → runner reports STOPPED, long-polling runner (p50)',
      unit: 'ms',
      ours: percentile(latencies, 50),
      reference: null,
      referenceName: '—',
      target: '≤ 1000 ms (+ engine stop)',
      check: (o) => o <= 1000,
    });
    s.raw.ours = { placementSeconds: seconds, placed: placement.placed, stopMs: latencies };
    await realRunnerStop(ctx, s, http, orch.url, tiny ? 3 : 5);
  } finally {
    await s.cleanup();
  }
}

/** One call to the engine's API; resolves with the status code. */
function engineCall(socketPath: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = nodeHttp.request(
      { socketPath, method, path: `/v1.40${path}`, agent: false, headers: payload ? { 'Content-Type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.once('error', fail);
    req.end(payload);
  });
}

/** PATCH STOPPED → STOPPED with the real runner and engine, against the engine's own stop time. */
async function realRunnerStop(ctx: Ctx, s: Scenario, http: JsonClient, url: string, rounds: number): Promise<void> {
  const engine = process.env.PULSE_TEST_CONTAINER_ENGINE ?? '';
  const socket = /^unix:\/\/(\/.+)$/.exec(engine)?.[1];
  if (!socket) {
    ctx.progress('no container engine (PULSE_TEST_CONTAINER_ENGINE): the real-runner stop latency is left out');
    return;
  }
  const image = process.env.PULSE_BENCH_IMAGE ?? 'localhost/pulse-test:busybox';
  const command = ['httpd', '-f', '-p', '8080', '-h', '/etc'];

  // The reference: the engine stopping the same kind of container (Init, TERM), started and stopped from here.
  ctx.progress(`the engine's own stop of a busybox httpd container, ${rounds} times`);
  const engineMs: number[] = [];
  const name = `pulse-bench-stop-${process.pid}`;
  const made = await engineCall(socket, 'POST', `/containers/create?name=${name}`, { Image: image, Cmd: command, HostConfig: { Init: true } });
  if (made.status !== 201) throw new Error(`engine create answered ${made.status}: ${made.body}`);
  s.defer(async () => void (await engineCall(socket, 'DELETE', `/containers/${name}?force=1`)));
  for (let k = 0; k < rounds; k++) {
    await engineCall(socket, 'POST', `/containers/${name}/start`);
    await new Promise((r) => setTimeout(r, 300));
    const t0 = wallMs();
    await engineCall(socket, 'POST', `/containers/${name}/stop?t=10`);
    engineMs.push(wallMs() - t0);
  }

  ctx.progress(`a real runner with the engine: PATCH STOPPED → STOPPED, ${rounds} times`);
  const runner = register(url, engine, 'bench-instances', ['s14-real']);
  s.defer(() => stopRunner(runner));
  start(runner, engine, ['--wait', '20', '--instance-address', '127.0.0.1']);
  const made2 = await http.request('PUT', '/api/instances', { name: 'bench-web', uri: image, command, ports: ['8080'], labels: ['s14-real'] }, ADMIN_TOKEN);
  if (made2.status !== 201) throw new Error(`PUT /api/instances answered ${made2.status}: ${JSON.stringify(made2.body)}`);
  const id = made2.body.id as string;
  const until = async (status: string, timeoutMs = 60_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await http.request('GET', `/api/instances/${id}`, undefined, ADMIN_TOKEN);
      if (now.body.status === status) return;
      if (Date.now() > deadline) throw new Error(`instance ${id} not ${status} after ${timeoutMs} ms: ${JSON.stringify(now.body)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const ms: number[] = [];
  for (let k = 0; k < rounds; k++) {
    await until('RUNNING');
    await new Promise((r) => setTimeout(r, 500)); // the runner is back in its long poll
    const t0 = wallMs();
    const patched = await http.request('PATCH', `/api/instances/${id}`, { state: 'STOPPED' }, ADMIN_TOKEN);
    if (patched.status !== 200) throw new Error(`PATCH answered ${patched.status}`);
    await until('STOPPED');
    ms.push(wallMs() - t0);
    await http.request('PATCH', `/api/instances/${id}`, { state: 'RUNNING' }, ADMIN_TOKEN);
  }
  await http.request('DELETE', `/api/instances/${id}`, undefined, ADMIN_TOKEN);
  await until('TERMINATED');
  const left = await engineCall(socket, 'GET', `/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify({ label: [`pulse.instance=${id}`] }))}`);
  s.check('the destroyed instance left no container', left.status === 200 && (JSON.parse(left.body) as unknown[]).length === 0, left.body.slice(0, 200));
  const ours = percentile(ms, 50);
  const ref = percentile(engineMs, 50);
  s.row({
    metric: 'PATCH STOPPED → STOPPED, real runner and engine (p50)',
    unit: 'ms',
    ours,
    reference: ref,
    referenceName: "the engine's own stop of the same container (p50)",
    target: '≤ engine stop + 1000 ms',
    check: (o) => o <= ref + 1000,
  });
  s.raw.realRunner = { stopMs: ms, engineStopMs: engineMs };
}
