/**
 * Instances for real (SPEC section 10): the built orchestrator, the built runner process and a
 * real container engine (Podman's Docker-compatible service, scripts/podman-test-env.sh). A
 * busybox httpd instance reaches RUNNING and answers on its published port; a `kill -9` of the
 * runner and a restart keep it running without a restart; PATCH STOPPED stops it and RUNNING
 * starts it again; DELETE removes its container; a crashing command ends FAILED after its two
 * restarts. Without an engine the suite skips loudly; under CI=true it fails instead.
 */
import * as http from 'node:http';
import { eventually, startPulse, type TestPulse } from './support/pulse';
import { BUSYBOX_IMAGE, containersLabelled, inspectContainer, removeContainers, testEngine, type TestEngine } from './support/containers';
import { cleanupRunner, registerRunner, startRunner, type RegisteredRunner, type RunnerProcess } from './support/runner';

const FAST = { HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '5', RUNNER_DEAD_AFTER: '10', INSTANCE_LOST_AFTER: '60' };

const engine = testEngine();
const describeWithEngine = engine ? describe : describe.skip;

interface InstanceView {
  id: string;
  status: string;
  description: string;
  runner_id: string | null;
  ip: string | null;
  ports: string[];
  restarts: number;
}

/** GET on 127.0.0.1:port; the status code, or 0 when nothing answers. */
function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, timeout: 3000, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve({ status: 0, body: '' }));
  });
}

describeWithEngine('instances on a real runner and engine', () => {
  const eng = engine as TestEngine;
  let pulse: TestPulse;
  let runner: RegisteredRunner;
  let proc: RunnerProcess;
  const made: string[] = [];

  const start = (): RunnerProcess =>
    startRunner(runner, {
      args: ['--container-engine', eng.url, '--pull-policy', 'never', '--instance-address', '127.0.0.1', '--wait', '5'],
      env: { PULSE_RUNNER_INSTANCE_RESTART_DELAY_MS: '1000' },
    });

  const get = async (id: string): Promise<InstanceView> => (await pulse.http.get(`/api/instances/${id}`).set(pulse.admin).expect(200)).body as InstanceView;
  const until = (id: string, check: (i: InstanceView) => boolean, timeoutMs = 30000): Promise<InstanceView> =>
    eventually(async () => {
      const i = await get(id);
      return check(i) ? i : undefined;
    }, timeoutMs, 100).catch(async (err: unknown) => {
      throw new Error(`instance ${id} never matched: ${JSON.stringify(await get(id))}\nrunner output:\n${proc.output().slice(-3000)}\n${String(err)}`);
    });
  const create = async (body: Record<string, unknown>): Promise<string> => {
    const res = await pulse.http.put('/api/instances').set(pulse.admin).send(body);
    if (res.status !== 201) throw new Error(`create failed: ${res.status} ${JSON.stringify(res.body)}`);
    made.push(res.body.id as string);
    return res.body.id as string;
  };

  beforeAll(async () => {
    pulse = await startPulse(FAST);
    runner = await registerRunner(pulse, { name: 'instances', args: ['--container-engine', eng.url] });
    proc = start();
    await eventually(async () => {
      const r = await pulse.http.get(`/api/runners/${runner.id}`).set(pulse.admin).expect(200);
      return r.body.container?.healthy === true || undefined;
    });
  }, 120000);

  afterAll(async () => {
    try {
      await proc?.stop();
      if (runner) await removeContainers(eng, [`pulse.runner=${runner.id}`]).catch(() => undefined);
    } finally {
      if (runner) cleanupRunner(runner);
      await pulse?.close();
    }
  });

  it('runs an httpd instance that answers on its published port, survives kill -9 of the runner, stops, starts and is removed', async () => {
    const workload = await pulse.http
      .put('/api/workloads')
      .set(pulse.admin)
      .send({ name: 'web', uri: BUSYBOX_IMAGE, command: ['httpd', '-f', '-p', '8080', '-h', '/etc'], ports: ['8080'], environment: ['GREETING=hi'] })
      .expect(201);
    const id = await create({ workload_id: workload.body.id, name: 'web-1' });

    const running = await until(id, (i) => i.status === 'RUNNING' && i.ports.length === 1);
    expect(running).toMatchObject({ runner_id: runner.id, ip: '127.0.0.1', restarts: 0 });
    expect(running.ports[0]).toMatch(/^\d+:8080$/);
    const port = Number(running.ports[0].split(':')[0]);
    const page = await eventually(async () => {
      const r = await httpGet(port, '/hostname');
      return r.status === 200 ? r : undefined;
    }, 10000, 200);
    expect(page.body.trim()).not.toBe('');

    const [container] = await containersLabelled(eng, [`pulse.instance=${id}`]);
    expect(container.Names[0].replace(/^\//, '')).toBe(`pulse-instance-${id}`);
    expect(container.Labels).toMatchObject({ 'pulse.instance': id, 'pulse.runner': runner.id });
    const before = await inspectContainer(eng, container.Id);
    expect(before?.State.Running).toBe(true);

    // kill -9 of the runner, then a restart: the container is adopted, not restarted.
    proc.signal('SIGKILL');
    await proc.exited;
    proc = start();
    await eventually(async () => /adopted an instance container/.test(proc.output()) || undefined, 20000, 100);
    await until(id, (i) => i.status === 'RUNNING');
    const after = await inspectContainer(eng, container.Id);
    expect(after?.State).toMatchObject({ Running: true, StartedAt: before?.State.StartedAt });
    expect((await httpGet(port, '/hostname')).status).toBe(200);
    expect((await get(id)).restarts).toBe(0);

    // Stop: the container is kept, not running.
    const asked = Date.now();
    await pulse.http.patch(`/api/instances/${id}`).set(pulse.admin).send({ state: 'STOPPED' }).expect(200);
    await until(id, (i) => i.status === 'STOPPED');
    console.log(`instances e2e: PATCH STOPPED → reported STOPPED in ${Date.now() - asked} ms (engine stop included)`);
    expect((await inspectContainer(eng, container.Id))?.State.Running).toBe(false);
    expect((await httpGet(port, '/hostname')).status).toBe(0);

    // Start again: the same container.
    await pulse.http.patch(`/api/instances/${id}`).set(pulse.admin).send({ state: 'RUNNING' }).expect(200);
    const again = await until(id, (i) => i.status === 'RUNNING' && i.ports.length === 1);
    expect((await inspectContainer(eng, container.Id))?.State.Running).toBe(true);
    const port2 = Number(again.ports[0].split(':')[0]);
    await eventually(async () => (await httpGet(port2, '/hostname')).status === 200 || undefined, 10000, 200);

    // Destroy: DESTROYING, then TERMINATED once the runner removed the container.
    await pulse.http.delete(`/api/instances/${id}`).set(pulse.admin).expect(202);
    await until(id, (i) => i.status === 'TERMINATED');
    expect(await containersLabelled(eng, [`pulse.instance=${id}`])).toEqual([]);
    expect(await inspectContainer(eng, container.Id)).toBeUndefined();
  }, 180000);

  it('a command that keeps crashing is restarted twice, then FAILED; PATCH RUNNING retries it', async () => {
    const id = await create({ name: 'crasher', uri: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo boom; exit 3'] });
    const seen = new Set<string>();
    const failed = await until(id, (i) => {
      seen.add(i.status);
      return i.status === 'FAILED';
    }, 60000);
    expect(failed.restarts).toBe(2);
    expect(failed.description).toMatch(/exited with code 3: crashed 3 times/);
    expect(seen.has('CRASHED') || seen.has('STARTING') || seen.has('SCHEDULED')).toBe(true);

    // A retry makes a new generation: a new container, crashing afresh until FAILED again.
    const [first] = await containersLabelled(eng, [`pulse.instance=${id}`]);
    await pulse.http.patch(`/api/instances/${id}`).set(pulse.admin).send({ state: 'RUNNING' }).expect(200);
    const second = await eventually(async () => {
      const [c] = await containersLabelled(eng, [`pulse.instance=${id}`]);
      return c && c.Id !== first.Id ? c : undefined;
    }, 30000, 100);
    expect(Number(second.Labels?.['pulse.generation'])).toBeGreaterThan(Number(first.Labels?.['pulse.generation']));
    await until(id, (i) => i.status === 'FAILED' && i.restarts === 2, 60000);
    await pulse.http.delete(`/api/instances/${id}`).set(pulse.admin).expect(202);
    await until(id, (i) => i.status === 'TERMINATED');
    expect(await containersLabelled(eng, [`pulse.instance=${id}`])).toEqual([]);
  }, 120000);

  it('an image the engine does not have ends FAILED with the reason (pull policy never)', async () => {
    const id = await create({ name: 'missing', uri: 'localhost/pulse-test:absent' });
    const failed = await until(id, (i) => i.status === 'FAILED');
    expect(failed.description).toContain('localhost/pulse-test:absent');
    await pulse.http.delete(`/api/instances/${id}`).set(pulse.admin).expect(202);
    await until(id, (i) => i.status === 'TERMINATED');
  }, 60000);
});
