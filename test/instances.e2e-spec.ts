import { databaseKind, eventually, startPulse, type TestPulse } from './support/pulse';
import { SseClient } from './support/sse';
import { ENGINE, type HeartbeatBody, type InstanceReport, submit, TestRunner } from './support/protocol';

/**
 * Workloads and instances (SPEC section 10) over the protocol, with scripted runners: the routes,
 * every status transition, a lost response, a long poll answered by a change of the list,
 * runner death and placement elsewhere, a returning runner.
 */
describe('workloads and instances', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse({ RUNNER_DEAD_AFTER: '3', HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '2', SWEEP_INTERVAL: '0.2', INSTANCE_LOST_AFTER: '4' });
  });
  afterAll(async () => {
    await pulse?.close();
  });

  const api = () => pulse.http;
  const get = async (id: string) => (await api().get(`/api/instances/${id}`).set(pulse.admin).expect(200)).body;
  const beat = (r: TestRunner, instances: InstanceReport[] = [], extra: Record<string, unknown> = {}): Promise<HeartbeatBody> =>
    r.heartbeat({ status: 'ready', runs: [], ...ENGINE, instances, ...extra });
  const engineRunner = async (body: Record<string, unknown> = {}): Promise<TestRunner> => {
    const r = await TestRunner.register(pulse, { ...ENGINE, ...body });
    await beat(r);
    return r;
  };

  it('workloads: create, read, list, change, 409 on a taken name, 400 naming the field, 404, delete', async () => {
    const created = await api()
      .put('/api/workloads')
      .set(pulse.admin)
      .send({ name: 'web', uri: 'busybox:1.36', command: ['httpd', '-f'], environment: ['A=1'], ports: ['8080'], resources: { cpu: 1, memory: 64 } })
      .expect(201);
    expect(created.body).toMatchObject({
      name: 'web',
      type: 'CONTAINER',
      uri: 'busybox:1.36',
      command: ['httpd', '-f'],
      environment: ['A=1'],
      ports: ['8080'],
      resources: { cpu: 1, memory: 64, disk: 0 },
      labels: [],
    });
    const id = created.body.id as string;
    await api().put('/api/workloads').set(pulse.admin).send({ name: 'web', uri: 'busybox' }).expect(409);
    for (const [body, field] of [
      [{ uri: 'busybox' }, 'name'],
      [{ name: 'x' }, 'uri'],
      [{ name: 'x', uri: 'busybox', ports: ['http'] }, 'ports'],
      [{ name: 'x', uri: 'busybox', ports: ['80', '80'] }, 'ports'],
      [{ name: 'x', uri: 'busybox', environment: ['=1'] }, 'environment'],
      [{ name: 'x', uri: 'busybox', type: 'VM' }, 'type'],
      [{ name: 'x', uri: 'busybox', resources: { cpu: -1 } }, 'cpu'],
    ] as const) {
      const res = await api().put('/api/workloads').set(pulse.admin).send(body).expect(400);
      expect(JSON.stringify(res.body.message)).toContain(field);
    }
    expect((await api().get(`/api/workloads/${id}`).set(pulse.admin).expect(200)).body.name).toBe('web');
    await api().get('/api/workloads/00000000-0000-4000-8000-000000000000').set(pulse.admin).expect(404);
    await api().get('/api/workloads/nope').set(pulse.admin).expect(404);
    const changed = await api().patch(`/api/workloads/${id}`).set(pulse.admin).send({ environment: ['A=2'] }).expect(200);
    expect(changed.body.environment).toEqual(['A=2']);
    await api().put('/api/workloads').set(pulse.admin).send({ name: 'other', uri: 'busybox' }).expect(201);
    const page = await api().get('/api/workloads?limit=1').set(pulse.admin).expect(200);
    expect(page.body.items).toHaveLength(1);
    const next = await api().get(`/api/workloads?limit=1&cursor=${page.body.next_cursor as string}`).set(pulse.admin).expect(200);
    expect(next.body.items[0].name).toBe('other');
    const offset = await api().get('/api/workloads?limit=1&offset=1&type=CONTAINER').set(pulse.admin).expect(200);
    expect(offset.body.items[0].name).toBe('other');
    const other = next.body.items[0].id as string;
    expect((await api().delete(`/api/workloads/${other}`).set(pulse.admin).expect(200)).body.name).toBe('other');
    await api().get(`/api/workloads/${other}`).set(pulse.admin).expect(404);
    // Audited.
    const audit = await api().get('/api/audit?action=workload.created').set(pulse.admin).expect(200);
    expect(audit.body.items.length).toBeGreaterThanOrEqual(2);
  });

  it('an instance goes SCHEDULING → SCHEDULED → STARTING → RUNNING → CRASHED → RUNNING → STOPPING → STOPPED → DESTROYING → TERMINATED', async () => {
    const noRunner = await api()
      .put('/api/instances')
      .set(pulse.admin)
      .send({ name: 'lonely', uri: 'busybox', labels: ['nowhere'] })
      .expect(201);
    expect(noRunner.body.status).toBe('SCHEDULING');
    expect(noRunner.body.pending_reason).toMatch(/none is alive/);

    const r = await engineRunner({ labels: ['t1'] });
    const wl = (await api().get('/api/workloads').set(pulse.admin).expect(200)).body.items.find((w: { name: string }) => w.name === 'web');
    const made = await api().put('/api/instances').set(pulse.admin).send({ workload_id: wl.id, labels: ['t1'] }).expect(201);
    const id = made.body.id as string;
    expect(made.body).toMatchObject({ status: 'SCHEDULED', runner_id: r.id, workload_id: wl.id, name: 'web', environment: ['A=2'] });

    // A lost response: the next heartbeat carries the whole list again.
    const first = await beat(r);
    expect(first.instances?.map((i) => i.id)).toEqual([id]);
    // …and is not held for a long poll while the runner's report does not follow its list yet:
    // LONG_POLL_MAX is 2 s here, and an answer held that long would be a long poll.
    const asked = Date.now();
    const again = await beat(r, [], { wait: 2 });
    const took = Date.now() - asked;
    expect(again.instances).toEqual(first.instances);
    expect(took).toBeLessThan(1900);
    const want = again.instances![0];
    expect(want).toMatchObject({ uri: 'busybox:1.36', command: ['httpd', '-f'], environment: ['A=2'], ports: ['8080'], state: 'RUNNING' });

    await beat(r, [{ id, status: 'STARTING', generation: want.generation }]);
    expect((await get(id)).status).toBe('STARTING');
    await beat(r, [{ id, status: 'RUNNING', ip: '10.0.0.5', ports: ['32768:8080'], generation: want.generation }]);
    expect(await get(id)).toMatchObject({ status: 'RUNNING', ip: '10.0.0.5', ports: ['32768:8080'], restarts: 0 });
    await beat(r, [{ id, status: 'CRASHED', description: 'exited with code 1', generation: want.generation }]);
    expect(await get(id)).toMatchObject({ status: 'CRASHED', description: 'exited with code 1' });
    await beat(r, [{ id, status: 'RUNNING', restarts: 1, ports: ['32768:8080'], generation: want.generation }]);
    expect(await get(id)).toMatchObject({ status: 'RUNNING', restarts: 1 });

    // A long poll is answered at once when the list changes.
    const started = Date.now();
    const polling = beat(r, [{ id, status: 'RUNNING', restarts: 1, generation: want.generation }], { wait: 20 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stopped = await api().patch(`/api/instances/${id}`).set(pulse.admin).send({ state: 'STOPPED' }).expect(200);
    expect(stopped.body.status).toBe('STOPPING');
    const answered = await polling;
    expect(Date.now() - started).toBeLessThan(15000);
    expect(answered.instances?.[0]).toMatchObject({ id, state: 'STOPPED' });
    await beat(r, [{ id, status: 'STOPPED', generation: want.generation }]);
    expect((await get(id)).status).toBe('STOPPED');

    await api().patch(`/api/instances/${id}`).set(pulse.admin).send({ state: 'bogus' }).expect(400);
    const gone = await api().delete(`/api/instances/${id}`).set(pulse.admin).expect(202);
    expect(gone.body.status).toBe('DESTROYING');
    await api().patch(`/api/instances/${id}`).set(pulse.admin).send({ state: 'RUNNING' }).expect(409);
    // The workload is still in use.
    await api().delete(`/api/workloads/${wl.id as string}`).set(pulse.admin).expect(409);
    const list = await beat(r, [{ id, status: 'STOPPED', generation: want.generation }]);
    expect(list.instances).toEqual([]);
    await beat(r, []);
    expect((await get(id)).status).toBe('TERMINATED');
    await api().delete(`/api/workloads/${wl.id as string}`).set(pulse.admin).expect(200);

    const byState = await api().get('/api/instances?state=TERMINATED').set(pulse.admin).expect(200);
    expect(byState.body.items.map((i: { id: string }) => i.id)).toContain(id);
    await api().get('/api/instances?state=NOPE').set(pulse.admin).expect(400);
    // Every status change is an `instance` event in the feed.
    const feed = await SseClient.open(`${pulse.url}/api/events?kinds=instance&after=0`, pulse.admin);
    try {
      const statuses = await eventually(() => {
        const seen = feed.events<{ id: string; status: string }>('instance').filter((e) => e.data.id === id).map((e) => e.data.status);
        return Promise.resolve(seen.includes('TERMINATED') ? seen : undefined);
      });
      expect(statuses).toEqual(expect.arrayContaining(['SCHEDULED', 'STARTING', 'RUNNING', 'CRASHED', 'STOPPING', 'STOPPED', 'DESTROYING', 'TERMINATED']));
    } finally {
      feed.close();
    }
    await r.deregister().expect(200);
  });

  it('FAILED, then PATCH RUNNING retries with a new generation', async () => {
    const r = await engineRunner({ labels: ['t2'] });
    const id = (await api().put('/api/instances').set(pulse.admin).send({ uri: 'busybox', labels: ['t2'] }).expect(201)).body.id as string;
    const g = (await beat(r)).instances![0].generation;
    await beat(r, [{ id, status: 'FAILED', description: 'crashed 3 times in 30 minutes', restarts: 2, generation: g }]);
    expect(await get(id)).toMatchObject({ status: 'FAILED', restarts: 2 });
    await api().patch(`/api/instances/${id}`).set(pulse.admin).send({ state: 'RUNNING' }).expect(200);
    const list = await beat(r, [{ id, status: 'FAILED', generation: g }]);
    expect(list.instances![0].generation).toBe(g + 1);
    // The old generation's report is ignored.
    expect(await get(id)).toMatchObject({ status: 'SCHEDULED', restarts: 0 });
    await beat(r, [{ id, status: 'RUNNING', generation: g + 1 }]);
    expect((await get(id)).status).toBe('RUNNING');
    await api().delete(`/api/instances/${id}`).set(pulse.admin).expect(202);
    await beat(r, []);
    expect((await get(id)).status).toBe('TERMINATED');
    await r.deregister().expect(200);
  });

  it('placement: resources, host ports, best fit, labels, healthy engine', async () => {
    const small = await engineRunner({ labels: ['t3'], resources: { cpu: 2, memory: 1000, disk: 1000 } });
    const big = await engineRunner({ labels: ['t3'], resources: { cpu: 8, memory: 8000, disk: 8000 } });
    const noEngine = await TestRunner.register(pulse, { labels: ['t3'] });
    await noEngine.heartbeat();
    const put = (body: Record<string, unknown>) => api().put('/api/instances').set(pulse.admin).send({ uri: 'busybox', labels: ['t3'], ...body }).expect(201);
    // Best fit: the fullest runner that still fits.
    const a = await put({ resources: { cpu: 1, memory: 500 } });
    expect(a.body.runner_id).toBe(small.id);
    const b = await put({ resources: { cpu: 1, memory: 500 }, ports: ['9000:80'] });
    expect(b.body.runner_id).toBe(small.id);
    const c = await put({ resources: { cpu: 1, memory: 500 } });
    expect(c.body.runner_id).toBe(big.id);
    // Host port 9000 is taken on small; big has it free.
    const d = await put({ ports: ['9000:80'] });
    expect(d.body.runner_id).toBe(big.id);
    const e = await put({ ports: ['9000:8080'] });
    expect(e.body).toMatchObject({ status: 'SCHEDULING' });
    expect(e.body.pending_reason).toMatch(/no room.*host port\(s\) 9000/);
    const f = await put({ resources: { memory: 100000 } });
    expect(f.body.status).toBe('SCHEDULING');
    // A STOPPED instance frees its cpu and memory.
    await api().patch(`/api/instances/${a.body.id as string}`).set(pulse.admin).send({ state: 'STOPPED' }).expect(200);
    const g = await put({ resources: { cpu: 1, memory: 500 } });
    expect(g.body.runner_id).toBe(small.id);
    for (const r of [small, big, noEngine]) await r.deregister().expect(200);
  });

  it('a dead runner: "dead" in description, then placed elsewhere after INSTANCE_LOST_AFTER; the old runner back gets an empty list', async () => {
    const old = await engineRunner({ labels: ['t4'] });
    const id = (await api().put('/api/instances').set(pulse.admin).send({ uri: 'busybox', labels: ['t4'] }).expect(201)).body.id as string;
    const g = (await beat(old)).instances![0].generation;
    await beat(old, [{ id, status: 'RUNNING', generation: g }]);
    const stoppedId = (await api().put('/api/instances').set(pulse.admin).send({ uri: 'busybox', labels: ['t4'] }).expect(201)).body.id as string;
    await api().patch(`/api/instances/${stoppedId}`).set(pulse.admin).send({ state: 'STOPPED' }).expect(200);
    // Silent now: dead after RUNNER_DEAD_AFTER, lost after INSTANCE_LOST_AFTER.
    await eventually(async () => /is dead/.test((await get(id)).description as string), 20000, 200);
    const fresh = await engineRunner({ labels: ['t4'] });
    const moved = await eventually(async () => {
      await beat(fresh);
      const now = await get(id);
      return now.runner_id === fresh.id ? now : undefined;
    }, 30000, 300);
    expect(moved.status).toBe('SCHEDULED');
    expect(await get(stoppedId)).toMatchObject({ status: 'STOPPED', runner_id: null });
    // The old runner comes back still holding its copy: it is no longer in its list.
    const back = await beat(old, [{ id, status: 'RUNNING', generation: g }]);
    expect(back.instances).toEqual([]);
    expect((await get(id)).runner_id).toBe(fresh.id);
  });

  it('runs are matched against what instances leave free', async () => {
    const r = await TestRunner.register(pulse, { ...ENGINE, labels: ['t5'], executors: ['shell', 'container'], resources: { cpu: 4, memory: 4000, disk: 1000 } });
    const beat = (x: TestRunner) => x.heartbeat({ status: 'ready', runs: [], ...ENGINE, executors: ['shell', 'container'], instances: [] });
    await beat(r);
    await api().put('/api/instances').set(pulse.admin).send({ uri: 'busybox', labels: ['t5'], resources: { cpu: 3, memory: 100 } }).expect(201);
    const { runs } = await submit(pulse, { namespace: 't5', labels: ['t5'], resources: { cpu: 2 } });
    expect((await beat(r)).run).toBeUndefined();
    const small = await submit(pulse, { namespace: 't5', labels: ['t5'], resources: { cpu: 1 } });
    const got = await beat(r);
    expect(got.run?.id).toBe(small.runs[0]);
    expect(got.run?.id).not.toBe(runs[0]);
  });

  (databaseKind() === 'postgres' ? it : it.skip)(
    'two processes placing 60 instances at once on room for 20: exactly 20 placed, no runner over its resources',
    async () => {
      const other = pulse.via(await pulse.spawnAnother());
      const runners: TestRunner[] = [];
      for (let i = 0; i < 4; i++) runners.push(await engineRunner({ labels: ['t6'], resources: { cpu: 5, memory: 5000, disk: 5000 } }));
      const made = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          (i % 2 ? other : pulse).http
            .put('/api/instances')
            .set(pulse.admin)
            .send({ uri: 'busybox', labels: ['t6'], resources: { cpu: 1, memory: 10 } })
            .expect(201),
        ),
      );
      const ids = new Set(made.map((m) => m.body.id as string));
      // Every placement is final once all 60 are settled; on a loaded machine a runner can look
      // dead for a moment (RUNNER_DEAD_AFTER is 3 s here), so they keep beating while we look.
      const mine = async (): Promise<Array<{ runner_id: string | null; status: string; pending_reason: string | null }>> =>
        (await api().get('/api/instances?limit=500').set(pulse.admin).expect(200)).body.items.filter((i: { id: string }) => ids.has(i.id));
      let all = await mine();
      for (let i = 0; i < 20 && all.filter((x) => x.runner_id !== null).length < 20; i++) {
        await Promise.all(runners.map((r) => beat(r)));
        await new Promise((done) => setTimeout(done, 500));
        all = await mine();
      }
      const placed = all.filter((i) => i.runner_id !== null);
      expect(placed).toHaveLength(20);
      const perRunner = new Map<string, number>();
      for (const i of placed) perRunner.set(i.runner_id as string, (perRunner.get(i.runner_id as string) ?? 0) + 1);
      for (const r of runners) expect(perRunner.get(r.id)).toBe(5);
      const waiting = all.filter((i) => i.status === 'SCHEDULING');
      expect(waiting).toHaveLength(40);
      for (const w of waiting) expect(w.pending_reason).toMatch(/no room/);
      await other.proc.stop();
    },
  );

  (databaseKind() === 'postgres' ? it : it.skip)(
    'a run claim and an instance placement on the same runner at the same moment, from two processes, never over-commit it',
    async () => {
      const other = pulse.via(await pulse.spawnAnother());
      let both = 0;
      let runs = 0;
      let instances = 0;
      for (let k = 0; k < 15; k++) {
        const label = `t7-${k}`;
        const r = await TestRunner.register(pulse, { ...ENGINE, labels: [label], executors: ['shell', 'container'], resources: { cpu: 4, memory: 4000, disk: 1000 } });
        const ready = () => r.heartbeat({ status: 'ready', runs: [], ...ENGINE, executors: ['shell', 'container'], instances: [] });
        await ready();
        await submit(pulse, { namespace: 't7', labels: [label], resources: { cpu: 3 } });
        // The claim (through this process) and the placement (through the other) race.
        // Each round starts the heartbeat a little later, so some rounds fall inside the window.
        const [beat, placed] = await Promise.all([
          new Promise((go) => setTimeout(go, k)).then(ready),
          other.http.put('/api/instances').set(pulse.admin).send({ uri: 'busybox', labels: [label], resources: { cpu: 3 } }).expect(201),
        ]);
        const instanceHere = (await get(placed.body.id as string)).runner_id === r.id;
        const runHere = beat.run !== undefined;
        if (instanceHere) instances++;
        if (runHere) runs++;
        if (instanceHere && runHere) both++;
      }
      expect(both).toBe(0);
      expect(runs + instances).toBeGreaterThan(0);
      console.log(`run vs placement race: ${runs} runs and ${instances} instances won their runner in 15 rounds, never both`);
      await other.proc.stop();
    },
  );
});
