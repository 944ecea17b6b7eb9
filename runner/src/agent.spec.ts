import { Agent, type AgentExit, type AgentOptions, type InstanceHolder } from './agent';
import type { ApiClient, DesiredInstance, InstanceReport } from './api-client';
import { Transport } from './http';
import { silentLogger } from './logger';
import { RUNNER_VERSION, currentUsage, shellFramework } from './system';
import { FakeOrchestrator, waitFor } from './test-support/fake-orchestrator';
import { FAST_RETRY, cleanTempDirs, clientFor, isAlive, jobOptions, makeGitRepo, numberAfter } from './test-support/helpers';

describe('Agent (poll loop against a fake orchestrator over HTTP)', () => {
  let fake: FakeOrchestrator;
  let transport: Transport;
  let api: ApiClient;
  let repo: string;
  let agent: Agent;
  let running: Promise<AgentExit>;

  beforeAll(() => {
    repo = makeGitRepo();
  });
  beforeEach(async () => {
    fake = await FakeOrchestrator.start();
    transport = new Transport({ userAgent: 'spec' });
    api = clientFor(fake, transport);
  });
  afterEach(async () => {
    agent.cancel();
    await running;
    transport.close();
    await fake.close();
  });
  afterAll(cleanTempDirs);

  function startAgent(overrides: Partial<AgentOptions> = {}, instances?: InstanceHolder): void {
    const job = jobOptions();
    agent = new Agent(
      api,
      { runnerId: fake.runnerId, framework: shellFramework(), usage: () => currentUsage(job.workDir), instances },
      {
        waitSeconds: 1,
        jitterFraction: 0.1,
        heartbeatTimeoutMarginMs: 5000,
        defaultIntervalSeconds: 0.05,
        retry: FAST_RETRY,
        job,
        ...overrides,
      },
      silentLogger,
    );
    running = agent.run();
  }

  const longScript = ['sleep 300 &', 'echo "child=$!"', 'while true; do echo tick; sleep 0.05; done'];

  it('heartbeats with the protocol fields only, long-polls while ready, and runs what it is handed', async () => {
    startAgent();
    await waitFor(() => fake.heartbeats().length > 0, 5000, 'a heartbeat');
    const first = fake.heartbeats()[0].body;
    expect(first).toMatchObject({
      id: fake.runnerId,
      status: 'ready',
      runs: [],
      wait: 1,
      framework: {
        name: 'shell',
        version: RUNNER_VERSION,
        system: {
          ci: true,
          os: { description: expect.any(String), platform: process.platform, version: expect.any(String) },
          cpu: { baseClock: expect.any(Number), logicalCores: expect.any(Number), model: expect.any(String) },
          ram: { total: expect.any(Number) },
        },
      },
      usage: { cpu: expect.any(Number), memory: expect.any(Number), disk: expect.any(Number) },
    });
    expect(Object.keys(first).sort()).toEqual(['framework', 'id', 'runs', 'status', 'usage', 'wait']);
    expect(fake.heartbeats()[0].headers.authorization).toBe(`Bearer ${fake.runnerToken}`);

    const run = fake.enqueue({ repo, script: ['echo working', 'sleep 0.4', 'echo done'] });
    const result = await fake.waitForResult(run.id);
    expect(result).toMatchObject({ status: 'finished', exitCode: 0 });
    expect(fake.log(run.id)).toBe('working\ndone\n');

    // While the run went on, heartbeats said busy, listed it, and long-polled (SPEC section 13).
    const busy = fake.heartbeats().filter((h) => h.body.status === 'busy');
    expect(busy.length).toBeGreaterThan(0);
    for (const h of busy) {
      expect(h.body.runs).toEqual([run.id]);
      expect(h.body.wait).toBe(1);
    }
    // Ready again right after the result.
    const completedAt = fake.completes()[0].at;
    await waitFor(() => fake.heartbeats().some((h) => h.at >= completedAt && h.body.status === 'ready'), 5000, 'a ready heartbeat');
    expect(fake.badRequests).toEqual([]);
    agent.stop();
    expect(await running).toEqual({ code: 0 });
  });

  it('cancels the run listed in a heartbeat `cancel`: canceled, grandchild gone', async () => {
    startAgent();
    const run = fake.enqueue({ repo, script: longScript });
    await waitFor(() => fake.log(run.id).includes('child='), 5000, 'the script to start');
    fake.cancels.add(run.id);
    expect(await fake.waitForResult(run.id)).toMatchObject({ status: 'canceled' });
    await waitFor(() => !isAlive(numberAfter(fake.log(run.id), 'child')), 5000, 'the grandchild to die');
    await waitFor(() => agent.currentRun === undefined, 5000, 'the agent to be ready again');
  });

  it('stops with a clear non-zero exit on 403, killing the run it held and completing nothing', async () => {
    startAgent();
    const run = fake.enqueue({ repo, script: longScript });
    await waitFor(() => fake.log(run.id).includes('child='), 5000, 'the script to start');
    fake.deregistered = true;
    const exit = await running;
    expect(exit.code).toBe(1);
    expect(exit.reason).toMatch(/runner was deregistered/);
    await waitFor(() => !isAlive(numberAfter(fake.log(run.id), 'child')), 5000, 'the grandchild to die');
    expect(fake.completes()).toHaveLength(0);
  });

  it('keeps polling through dropped connections, 5xx and 429', async () => {
    let n = 0;
    fake.intercept((req) => {
      if (!req.path.endsWith('/heartbeat') || n >= 4) return undefined;
      n++;
      if (n === 1) return 'drop';
      if (n === 2) return { status: 502, body: 'bad gateway' };
      if (n === 3) return { status: 429, headers: { 'retry-after': '0' }, body: { statusCode: 429, message: 'slow down' } };
      return { status: 503, body: { statusCode: 503, message: 'database unreachable' } };
    });
    startAgent();
    const run = fake.enqueue({ repo, script: ['echo after the outage'] });
    expect(await fake.waitForResult(run.id)).toMatchObject({ status: 'finished' });
    expect(n).toBe(4);
  });

  it('on stop() finishes and uploads the current run, asks for no more work, then exits 0', async () => {
    startAgent();
    const run = fake.enqueue({ repo, script: ['echo start', 'sleep 0.5', 'echo end'] });
    await waitFor(() => fake.log(run.id).includes('start'), 5000, 'the script to start');
    agent.stop();
    const second = fake.enqueue({ repo, script: ['echo never'] });
    expect(await running).toEqual({ code: 0 });
    expect(fake.result(run.id)).toMatchObject({ status: 'finished' });
    expect(fake.log(run.id)).toBe('start\nend\n');
    expect(fake.result(second.id)).toBeUndefined();
    const stoppedAt = fake.updates(run.id).find((u) => (u.body.logs as string).includes('start'))?.at ?? 0;
    expect(fake.heartbeats().filter((h) => h.at > stoppedAt && h.body.status === 'ready')).toEqual([]);
  });

  it('on stop() then cancel() cancels the current run and reports it', async () => {
    startAgent();
    const run = fake.enqueue({ repo, script: longScript });
    await waitFor(() => fake.log(run.id).includes('child='), 5000, 'the script to start');
    agent.stop();
    agent.cancel();
    expect(await running).toEqual({ code: 0 });
    expect(fake.result(run.id)).toMatchObject({ status: 'canceled' });
    expect(isAlive(numberAfter(fake.log(run.id), 'child'))).toBe(false);
  });

  it('leaves a long poll at once on stop() when idle', async () => {
    fake.longPollMax = 20;
    startAgent({ waitSeconds: 20 });
    await waitFor(() => fake.heartbeats().length > 0, 5000, 'a heartbeat');
    const started = Date.now();
    agent.stop();
    expect(await running).toEqual({ code: 0 });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('reports its instances in every heartbeat, hands each desired list over whole, and reports a change at once (cutting a long poll short)', async () => {
    fake.longPollMax = 30;
    const desired: DesiredInstance = { id: 'i-1', name: 'web', uri: 'busybox', environment: [], resources: { cpu: 0, memory: 0, disk: 0 }, ports: ['8080'], state: 'RUNNING', generation: 3 };
    fake.instances = [desired];
    const lists: DesiredInstance[][] = [];
    let held: InstanceReport[] = [];
    startAgent({ waitSeconds: 30 }, { reports: () => Promise.resolve(held), reconcile: (list) => lists.push(list) });
    await waitFor(() => lists.length > 0, 5000, 'a desired list');
    expect(lists[0]).toEqual([desired]);
    expect(fake.heartbeats()[0].body.instances).toEqual([]);
    // The answer to the last heartbeat is held for up to 30 s; a change is reported long before.
    const before = fake.heartbeats().length;
    held = [{ id: 'i-1', status: 'RUNNING', ports: ['32768:8080'], restarts: 0, generation: 3 }];
    await new Promise((r) => setTimeout(r, 200));
    agent.nudge();
    await waitFor(() => fake.heartbeats().length > before && fake.heartbeats().some((h) => (h.body.instances as InstanceReport[]).length === 1), 10_000, 'the change reported');
    expect(fake.heartbeats().at(-1)?.body.instances).toEqual(held);

    // An unusable list is ignored whole (a list read in part would remove instances).
    const seen = lists.length;
    fake.instances = [{ ...desired, ports: ['http'] }];
    fake.longPollMax = 0;
    agent.nudge();
    const now = fake.heartbeats().length;
    await waitFor(() => fake.heartbeats().length > now + 3, 10_000, 'more heartbeats');
    expect(lists.length).toBe(seen);
  });
});
