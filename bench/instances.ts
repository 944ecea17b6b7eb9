/**
 * Scenario 14 (issue 12, SPEC section 10): workloads and instances.
 *
 * - Placement: 1,000 instances (tiny: 100) created at once, 20 requests in flight, on 100 (tiny:
 *   10) scripted runners with a healthy engine and room for exactly the instances: instances
 *   placed per second, and a check that no runner is over its resources.
 * - Stop latency: a scripted runner long-polls its heartbeat holding a RUNNING instance; the time
 *   from PATCH {"state":"STOPPED"} to the moment its answer carries the STOPPED entry and its
 *   next report makes the instance STOPPED (no engine: the engine's stop time is not included).
 */
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
  } finally {
    await s.cleanup();
  }
}
