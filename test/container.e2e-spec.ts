/**
 * Runs in containers (SPEC section 9), for real: the built orchestrator, the built runner
 * process and a real container engine (Podman's Docker-compatible service, see
 * scripts/podman-test-env.sh) with locally built images. Without an engine the suite skips
 * loudly; under CI=true it fails instead (test/support/containers.ts).
 */
import { readdirSync, rmSync } from 'node:fs';
import { eventually, startPulse, type TestPulse } from './support/pulse';
import { BASH_IMAGE, BUSYBOX_IMAGE, containersLabelled, removeContainers, testEngine, type TestEngine } from './support/containers';
import {
  cleanupRunner,
  getRun,
  makeGitRepo,
  readLog,
  registerRunner,
  startRunner,
  waitForFinal,
  waitForRun,
  type RegisteredRunner,
  type RunnerProcess,
} from './support/runner';

const FAST = { HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '2', RUNNER_DEAD_AFTER: '10', CANCEL_GRACE: '60' };

const engine = testEngine();
const describeWithEngine = engine ? describe : describe.skip;

describeWithEngine('runs in containers (real runner, real engine)', () => {
  const eng = engine as TestEngine;
  let pulse: TestPulse;
  let repo: string;
  const runners: Array<{ runner: RegisteredRunner; proc: RunnerProcess }> = [];

  /** Registers and starts a runner with these labels and extra `start` flags. */
  async function runner(labels: string[], args: string[] = [], registerArgs: string[] = []): Promise<{ runner: RegisteredRunner; proc: RunnerProcess }> {
    const r = await registerRunner(pulse, { name: labels.join('-'), labels, args: registerArgs });
    const entry = { runner: r, proc: startRunner(r, { args }) };
    runners.push(entry);
    return entry;
  }

  const withEngine = (...more: string[]): string[] => ['--container-engine', eng.url, '--pull-policy', 'never', ...more];

  async function submit(body: Record<string, unknown>): Promise<string[]> {
    const res = await pulse.http
      .post('/api/runs')
      .set(pulse.admin)
      .send({ namespace: 'ctr', repos: [repo], ...body });
    if (res.status !== 201) throw new Error(`submission failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.runs as string[];
  }

  /** Polls until the engine holds no container of this run (any attempt). */
  function noContainerOf(runId: string): Promise<boolean> {
    return eventually(async () => (await containersLabelled(eng, [`pulse.run=${runId}`])).length === 0, 30000, 250);
  }

  beforeAll(async () => {
    pulse = await startPulse(FAST);
    repo = makeGitRepo({ 'README.md': '# container test\n', 'data/hello.txt': 'hello from the repository\n' });
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'ctr', repositories: [repo] }).expect(201);
    await runner(['ctr'], withEngine(), ['--container-engine', eng.url]);
  }, 120000);

  afterAll(async () => {
    try {
      await Promise.all(runners.map((r) => r.proc.stop()));
      for (const r of runners) await removeContainers(eng, [`pulse.runner=${r.runner.id}`]).catch(() => undefined);
    } finally {
      for (const r of runners) cleanupRunner(r.runner);
      if (repo) rmSync(repo, { recursive: true, force: true });
      await pulse?.close();
    }
  });

  it('reports the engine facts and executors; GET /api/runners/{id} shows them', async () => {
    const id = runners[0].runner.id;
    const res = await eventually(async () => {
      const r = await pulse.http.get(`/api/runners/${id}`).set(pulse.admin).expect(200);
      return r.body.last_heartbeat_at && r.body.container?.healthy === true ? r : undefined;
    });
    expect(res.body.container).toMatchObject({ engine: 'podman', os: 'linux', healthy: true, version: expect.any(String), apiVersion: expect.any(String) });
    expect(res.body.executors).toEqual(['shell', 'container']);
    expect(res.body.default_image).toBeNull();
  });

  it('clones into /workspace, keeps stdout and stderr in order, passes env, keeps a last line without newline', async () => {
    const script = [
      'echo "pwd=$(pwd)"',
      'cat data/hello.txt',
      'echo out-1',
      'echo err-1 >&2',
      'echo out-2',
      'echo err-2 >&2',
      'echo "greeting=$GREETING ci=$CI run=$PULSE_RUN_ID"',
      'echo "shell=${BASH_VERSION:+bash}"',
      'test -e /var/run/docker.sock || test -e /run/podman/podman.sock && echo socket-visible || echo no-socket',
      'printf "the last line"',
    ];
    const [id] = await submit({ script, image: BASH_IMAGE, env: { GREETING: 'hi there' }, labels: ['ctr'] });
    const run = await waitForFinal(pulse, id);
    const log = await readLog(pulse, id);
    expect({ state: run.state, exit: run.exit_code }).toEqual({ state: 'finished', exit: 0 });
    expect(run.image).toBe(BASH_IMAGE);
    const body = log.slice(log.indexOf('pwd='));
    expect(body).toBe(
      [
        'pwd=/workspace',
        'hello from the repository',
        'out-1',
        'err-1',
        'out-2',
        'err-2',
        `greeting=hi there ci=true run=${id}`,
        'shell=bash',
        'no-socket',
        'the last line',
      ].join('\n'),
    );
    await noContainerOf(id);
    // Nothing of the run is left in the runner's work dir.
    await eventually(async () => readdirSync(runners[0].runner.workDir).length === 0);
  });

  it('uses sh when the image has no bash, and reports the exit code', async () => {
    const [id] = await submit({ script: ['echo "shell=${BASH_VERSION:-sh}"', 'exit 3'], image: BUSYBOX_IMAGE, labels: ['ctr'] });
    const run = await waitForFinal(pulse, id);
    expect({ state: run.state, exit: run.exit_code }).toEqual({ state: 'failed', exit: 3 });
    expect(await readLog(pulse, id)).toContain('shell=sh');
    await noContainerOf(id);
  });

  it('a memory limit that is exceeded kills the script: failed, 137, and a line that says so', async () => {
    const script = ['echo allocating', 'a=$(head -c 200000000 /dev/zero | tr "\\0" x)', 'echo "survived ${#a}"'];
    const [id] = await submit({ script, image: BUSYBOX_IMAGE, labels: ['ctr'], resources: { memory: 32 } });
    const run = await waitForFinal(pulse, id, 60000);
    const log = await readLog(pulse, id);
    expect({ state: run.state, exit: run.exit_code }).toEqual({ state: 'failed', exit: 137 });
    expect(log).toContain('allocating');
    expect(log).not.toContain('survived');
    expect(log).toMatch(/out of memory/);
    await noContainerOf(id);
  });

  it('resources become limits; a process limit, an init process, not privileged', async () => {
    const script = [
      'echo "quota=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us 2>/dev/null || cut -d" " -f1 /sys/fs/cgroup/cpu.max)"',
      'echo "memory=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"',
      'echo "pids=$(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"',
      'echo "init=$(cat /proc/1/comm)"',
      'echo "caps=$(grep CapEff /proc/self/status | cut -f2)"',
      'echo "interfaces=$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort | tr "\n" ,)"',
    ];
    const [id] = await submit({ script, image: BUSYBOX_IMAGE, labels: ['ctr'], resources: { cpu: 1, memory: 96 } });
    expect((await waitForFinal(pulse, id)).state).toBe('finished');
    const log = await readLog(pulse, id);
    const value = (key: string): string => new RegExp(`^${key}=(.*)$`, 'm').exec(log)?.[1] ?? '';
    expect(value('quota')).toBe('100000');
    expect(value('memory')).toBe(String(96 * 1024 * 1024));
    expect(value('pids')).toBe('4096');
    expect(value('init')).not.toBe('sh'); // PID 1 is the engine's init (catatonit, docker-init), not the script
    expect(value('caps')).not.toMatch(/^0*(1|3)f{9}$/); // not the full capability set of a privileged container
    expect(value('interfaces')).toContain('lo');

    // --container-network none: only the loopback interface.
    await runner(['no-net'], withEngine('--container-network', 'none'));
    const [isolated] = await submit({ script: [script[5]], image: BUSYBOX_IMAGE, labels: ['no-net'] });
    expect((await waitForFinal(pulse, isolated)).state).toBe('finished');
    expect(/^interfaces=(.*)$/m.exec(await readLog(pulse, isolated))?.[1]).toBe('lo,');
  });

  it('a cancel stops the container and leaves none behind', async () => {
    const [id] = await submit({ script: ['echo started', 'sleep 1000'], image: BUSYBOX_IMAGE, labels: ['ctr'] });
    await eventually(async () => (await readLog(pulse, id)).includes('started'), 40000, 250);
    expect(await containersLabelled(eng, [`pulse.run=${id}`])).toHaveLength(1);
    await pulse.http.delete(`/api/runs/${id}`).set(pulse.admin).expect(200);
    const run = await waitForFinal(pulse, id);
    expect(run.state).toBe('canceled');
    await noContainerOf(id);
  });

  it('a timeout stops the container and leaves none behind', async () => {
    const [id] = await submit({ script: ['echo started', 'sleep 1000'], image: BUSYBOX_IMAGE, labels: ['ctr'], timeout: 3 });
    const run = await waitForFinal(pulse, id, 60000);
    expect(run.state).toBe('timeout');
    expect(await readLog(pulse, id)).toContain('started');
    await noContainerOf(id);
  });

  it('a run with an image waits, with a pending_reason, while only shell runners can take it', async () => {
    await runner(['shell-only'], ['--container-engine', 'off'], ['--container-engine', 'off']);
    const [withImage] = await submit({ script: ['true'], image: BUSYBOX_IMAGE, labels: ['shell-only'] });
    const [without] = await submit({ script: ['echo on the host'], labels: ['shell-only'] });
    expect((await waitForFinal(pulse, without)).state).toBe('finished');
    const waiting = await waitForRun(pulse, withImage, (r) => typeof r.pending_reason === 'string' && r.pending_reason.includes('container'));
    expect(waiting.state).toBe('waiting');
    expect(waiting.pending_reason).toMatch(/container executor with a healthy container engine/);
    await pulse.http.delete(`/api/runs/${withImage}`).set(pulse.admin).expect(200);
  });

  it('--default-image runs a run without an image in that image', async () => {
    const { runner: r } = await runner(['defimg'], withEngine('--executors', 'container', '--default-image', BASH_IMAGE));
    await eventually(async () => {
      const res = await pulse.http.get(`/api/runners/${r.id}`).set(pulse.admin).expect(200);
      return res.body.default_image === BASH_IMAGE && res.body.container?.healthy;
    });
    const [id] = await submit({ script: ['test -d /.pulse && echo in-a-container', 'echo "pwd=$(pwd)"'], labels: ['defimg'] });
    const run = await waitForFinal(pulse, id);
    expect(run.state).toBe('finished');
    const log = await readLog(pulse, id);
    expect(log).toContain('in-a-container');
    expect(log).toContain('pwd=/workspace');
    await noContainerOf(id);
  });

  it('a runner killed with kill -9 mid-run: its container is gone after its restart, another runner’s is untouched', async () => {
    const a = await runner(['kill-a'], withEngine());
    const b = await runner(['kill-b'], withEngine());
    const [runA] = await submit({ script: ['echo started-a', 'sleep 1000'], image: BUSYBOX_IMAGE, labels: ['kill-a'] });
    const [runB] = await submit({ script: ['echo started-b', 'sleep 1000'], image: BUSYBOX_IMAGE, labels: ['kill-b'] });
    await eventually(async () => (await readLog(pulse, runA)).includes('started-a') && (await readLog(pulse, runB)).includes('started-b'), 40000, 250);

    a.proc.signal('SIGKILL');
    await a.proc.exited;
    // The runner is gone; its container is not (nothing else removes it).
    const left = await containersLabelled(eng, [`pulse.runner=${a.runner.id}`]);
    expect(left.map((c) => c.Labels?.['pulse.run'])).toEqual([runA]);

    // Restarted, it removes its own leftover before it takes any run.
    a.proc = startRunner(a.runner, { args: withEngine() });
    await eventually(async () => {
      const mine = await containersLabelled(eng, [`pulse.runner=${a.runner.id}`]);
      return !mine.some((c) => c.Names.some((n) => n.endsWith(`pulse-run-${runA}-1`)));
    }, 30000, 250);
    // The other runner's container is still there, still running its run.
    const others = await containersLabelled(eng, [`pulse.runner=${b.runner.id}`]);
    expect(others).toHaveLength(1);
    expect(others[0].State).toBe('running');
    expect((await getRun(pulse, runB)).state).toBe('running');

    // The server requeues the lost run; it runs again (attempt 2). Cancel both and check the engine is clean.
    await waitForRun(pulse, runA, (r) => r.attempt >= 2, 40000);
    for (const id of [runA, runB]) await pulse.http.delete(`/api/runs/${id}`).set(pulse.admin).expect(200);
    for (const id of [runA, runB]) expect((await waitForFinal(pulse, id)).state).toBe('canceled');
    await noContainerOf(runA);
    await noContainerOf(runB);
  });

  it('an image the engine lacks fails the run with a clear line (pull policy never; a failed pull)', async () => {
    const [id] = await submit({ script: ['echo never printed'], image: 'localhost/pulse-test:absent', labels: ['ctr'] });
    const run = await waitForFinal(pulse, id);
    expect(run.state).toBe('failed');
    const log = await readLog(pulse, id);
    expect(log).toContain('image localhost/pulse-test:absent is not present on the engine and the pull policy is "never"');
    expect(log).not.toContain('never printed');

    // Pull policy always, and no registry to pull from: the pull fails, and so does the run.
    const { runner: r } = await runner(['pull-always'], ['--container-engine', eng.url, '--pull-policy', 'always']);
    await eventually(async () => (await pulse.http.get(`/api/runners/${r.id}`).set(pulse.admin).expect(200)).body.container?.healthy);
    const [pulled] = await submit({ script: ['echo never printed'], image: 'localhost:1/pulse-test:nowhere', labels: ['pull-always'] });
    expect((await waitForFinal(pulse, pulled, 60000)).state).toBe('failed');
    const pullLog = await readLog(pulse, pulled);
    expect(pullLog).toContain('pulling image localhost:1/pulse-test:nowhere (pull policy always)');
    expect(pullLog).toContain('cannot pull image localhost:1/pulse-test:nowhere');
    await noContainerOf(pulled);
  });

  it('validates the container fields of registrations and heartbeats (400 naming the field)', async () => {
    const reg = (body: Record<string, unknown>) =>
      pulse.http.post('/api/runner/registration').send({ token: 'test-registration-token-0123456789', ...body });
    const facts = { engine: 'docker', version: '27.0', apiVersion: '1.46', os: 'linux', arch: 'amd64', healthy: true };
    const ok = await reg({ container: facts, executors: ['container'], defaultImage: 'debian:12' }).expect(201);
    for (const [body, field] of [
      [{ executors: ['vm'] }, 'executors'],
      [{ executors: [] }, 'executors'],
      [{ container: { ...facts, healthy: 'yes' } }, 'container.healthy'],
      [{ container: { engine: 'docker' } }, 'container.version'],
      [{ defaultImage: 'Not An Image' }, 'defaultImage'],
    ] as Array<[Record<string, unknown>, string]>) {
      const res = await reg(body);
      expect({ field, status: res.status }).toEqual({ field, status: 400 });
      expect(JSON.stringify(res.body.message)).toContain(field);
      const beat = await pulse.http
        .post('/api/runner/heartbeat')
        .set({ Authorization: `Bearer ${ok.body.runner_token as string}` })
        .send({ id: ok.body.runner_id as string, status: 'busy', runs: [], ...body });
      expect({ field, status: beat.status }).toEqual({ field, status: 400 });
    }
    const shown = await pulse.http.get(`/api/runners/${ok.body.runner_id as string}`).set(pulse.admin).expect(200);
    expect(shown.body).toMatchObject({ container: facts, executors: ['container'], default_image: 'debian:12' });
    await pulse.http.delete(`/api/runners/${ok.body.runner_id as string}`).set(pulse.admin).expect(200);
  });

  it('refuses a submission whose image is not an image reference, naming the field', async () => {
    const res = await pulse.http.post('/api/runs').set(pulse.admin).send({ namespace: 'ctr', repos: [repo], script: ['true'], image: 'Not An Image!' });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.message)).toContain('image');
    const jobs = await pulse.http
      .post('/api/runs')
      .set(pulse.admin)
      .send({ namespace: 'ctr', script: ['true'], jobs: [{ repo, image: 'UPPER/case' }] });
    expect(jobs.status).toBe(400);
    expect(JSON.stringify(jobs.body.message)).toContain('jobs.0.image');
  });
});
