/**
 * Dispatch by executor (SPEC section 9), with scripted runners over HTTP: a run with `image`
 * goes only to a runner whose last heartbeat reported the container executor and a healthy
 * engine, a run without one only to a runner with the shell executor or a default image, in the
 * single claim and in the grouped claim alike; otherwise it waits with a `pending_reason`.
 * No container engine is needed here (the runners are scripted).
 */
import { startPulse, type TestPulse } from './support/pulse';
import { submit, TestRunner } from './support/protocol';

const FACTS = { engine: 'podman', version: '4.3.1', apiVersion: '1.41', os: 'linux', arch: 'amd64', healthy: true };
const CONTAINER_ONLY = { executors: ['container'], container: FACTS };
const IMAGE = 'localhost/pulse-test:busybox';

describe('dispatch by executor', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse({ HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '2', RUNNER_DEAD_AFTER: '60' });
  }, 120000);

  afterAll(async () => {
    await pulse?.close();
  });

  async function pending(id: string): Promise<string | null> {
    const res = await pulse.http.get(`/api/runs/${id}`).set(pulse.admin).expect(200);
    return res.body.pending_reason as string | null;
  }

  it('gives image runs only to container runners and plain runs only to shell runners, one by one and grouped', async () => {
    const shell = await Promise.all([1, 2, 3].map(() => TestRunner.register(pulse, { labels: ['mix'] })));
    const container = await Promise.all([1, 2, 3].map(() => TestRunner.register(pulse, { labels: ['mix'], ...CONTAINER_ONLY })));
    // Alive first (the cache then knows them), then the work.
    await Promise.all(shell.map((r) => r.heartbeat({ status: 'busy', runs: [] })));
    await Promise.all(container.map((r) => r.heartbeat({ status: 'busy', runs: [], ...CONTAINER_ONLY })));
    const { runs: imageRuns } = await submit(pulse, { namespace: 'mix', labels: ['mix'], image: IMAGE, resources: { memory: 64, cpu: 1 } });
    await submit(pulse, { namespace: 'mix', labels: ['mix'], jobs: [{}, {}, {}, {}].map(() => ({ repo: 'https://example.com/a.git' })) });
    const { runs: moreImages } = await submit(pulse, { namespace: 'mix', labels: ['mix'], jobs: [{}, {}].map(() => ({ repo: 'https://example.com/a.git', image: IMAGE })) });
    const images = new Set([...imageRuns, ...moreImages]);

    // All six ask at once: runners of one capacity claim together (the grouped claim).
    const answers = await Promise.all([
      ...shell.map((r) => r.heartbeat({ status: 'ready', runs: [] })),
      ...container.map((r) => r.heartbeat({ status: 'ready', runs: [], ...CONTAINER_ONLY })),
    ]);
    const got = answers.map((a) => a.run);
    for (const run of got.slice(0, 3)) if (run) expect(images.has(run.id)).toBe(false);
    for (const run of got.slice(3)) {
      if (!run) continue;
      expect(images.has(run.id)).toBe(true);
      expect(run).toMatchObject({ image: IMAGE });
    }
    const taken = got.filter((r) => r !== undefined);
    expect(taken.length).toBeGreaterThanOrEqual(2);
    expect(new Set(taken.map((r) => r?.id)).size).toBe(taken.length);
    const withResources = got.find((r) => r?.id === imageRuns[0]);
    if (withResources) expect(withResources).toMatchObject({ resources: { cpu: 1, memory: 64, disk: 0 } });
    const plain = got.slice(0, 3).find((r) => r !== undefined);
    if (plain) {
      expect(plain).not.toHaveProperty('image');
      expect(plain).not.toHaveProperty('resources');
    }
    // Those that got nothing (another claim of the moment took the run they counted) ask again:
    // in the end every runner holds one run, of its own kind.
    const all = [...shell, ...container];
    for (let i = 0; i < all.length; i++) {
      for (let tries = 0; !got[i] && tries < 5; tries++) {
        got[i] = (await all[i].heartbeat({ status: 'ready', runs: [], ...(i >= 3 && CONTAINER_ONLY) })).run;
      }
      expect({ runner: i, kind: got[i] && images.has(got[i]?.id as string) ? 'image' : got[i] ? 'plain' : 'none' }).toEqual({ runner: i, kind: i >= 3 ? 'image' : 'plain' });
    }
    expect(new Set(got.map((r) => r?.id)).size).toBe(6);
    const detail = await pulse.http.get(`/api/runs/${imageRuns[0]}`).set(pulse.admin).expect(200);
    expect(detail.body.image).toBe(IMAGE);
  });

  it('a run with an image waits with a pending_reason while only shell runners exist, and goes once a healthy container runner appears', async () => {
    const shell = await TestRunner.register(pulse, { labels: ['only-shell'] });
    await shell.heartbeat({ status: 'busy', runs: [] });
    const { runs } = await submit(pulse, { namespace: 'ps', labels: ['only-shell'], image: IMAGE });
    expect((await shell.heartbeat({ status: 'ready', runs: [] })).run).toBeUndefined();
    expect(await pending(runs[0])).toMatch(/no matching runner can run it in a container \(image localhost\/pulse-test:busybox\)/);

    // A container runner whose engine is down: still nothing.
    const ctr = await TestRunner.register(pulse, { labels: ['only-shell'], ...CONTAINER_ONLY, container: { ...FACTS, healthy: false } });
    expect((await ctr.heartbeat({ status: 'ready', runs: [], ...CONTAINER_ONLY, container: { ...FACTS, healthy: false } })).run).toBeUndefined();
    expect(await pending(runs[0])).toMatch(/healthy container engine/);

    // Its engine answers again: the very next heartbeat takes the run, though the runner was seen a moment ago.
    const beat = await ctr.heartbeat({ status: 'ready', runs: [], ...CONTAINER_ONLY });
    expect(beat.run).toMatchObject({ id: runs[0], image: IMAGE });
    const shown = await pulse.http.get(`/api/runners/${ctr.id}`).set(pulse.admin).expect(200);
    expect(shown.body).toMatchObject({ container: FACTS, executors: ['container'], default_image: null });
  });

  it('an engine that stops answering stops image runs at once, even for a runner seen a moment ago', async () => {
    const ctr = await TestRunner.register(pulse, { labels: ['flaky'], ...CONTAINER_ONLY });
    await ctr.heartbeat({ status: 'busy', runs: [], ...CONTAINER_ONLY });
    const { runs } = await submit(pulse, { namespace: 'flaky', labels: ['flaky'], image: IMAGE });
    expect((await ctr.heartbeat({ status: 'ready', runs: [], ...CONTAINER_ONLY, container: { ...FACTS, healthy: false } })).run).toBeUndefined();
    const shown = await pulse.http.get(`/api/runners/${ctr.id}`).set(pulse.admin).expect(200);
    expect(shown.body.container).toMatchObject({ healthy: false });
    expect(await pending(runs[0])).toMatch(/healthy container engine/);
  });

  it('a runner with a default image takes runs without one; a container-only runner without one does not', async () => {
    const bare = await TestRunner.register(pulse, { labels: ['def'], ...CONTAINER_ONLY });
    await bare.heartbeat({ status: 'busy', runs: [], ...CONTAINER_ONLY });
    const { runs } = await submit(pulse, { namespace: 'def', labels: ['def'] });
    expect((await bare.heartbeat({ status: 'ready', runs: [], ...CONTAINER_ONLY })).run).toBeUndefined();
    expect(await pending(runs[0])).toMatch(/no matching runner runs scripts without an image/);

    const withDefault = { ...CONTAINER_ONLY, defaultImage: 'debian:12' };
    const def = await TestRunner.register(pulse, { labels: ['def'], ...withDefault });
    const beat = await def.heartbeat({ status: 'ready', runs: [], ...withDefault });
    expect(beat.run?.id).toBe(runs[0]);
    expect(beat.run).not.toHaveProperty('image'); // the runner uses its default image
  });

  it('runners that report nothing about executors keep running plain runs (absent executors = ["shell"])', async () => {
    const old = await TestRunner.register(pulse, { labels: ['old'] });
    const { runs } = await submit(pulse, { namespace: 'old', labels: ['old'] });
    expect((await old.heartbeat({ status: 'ready', runs: [] })).run?.id).toBe(runs[0]);
    const shown = await pulse.http.get(`/api/runners/${old.id}`).set(pulse.admin).expect(200);
    expect(shown.body).toMatchObject({ container: null, executors: ['shell'], default_image: null });
  });
});
