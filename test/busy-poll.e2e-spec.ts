/**
 * The busy long poll (SPEC section 13): a busy runner's heartbeat is held until one of its runs is
 * canceled or times out, so a cancel reaches a silent script within a second, not within an
 * interval. The real runner process runs a real `sleep`; HEARTBEAT_INTERVAL is 30 s here, so
 * only the busy poll can bring the cancel in time. The figure is printed, not asserted tightly
 * (the machine is shared): `npm run bench` asserts the target.
 */
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startPulse, type TestPulse } from './support/pulse';
import { cleanupRunner, isAlive, makeGitRepo, registerRunner, startRunner, waitForFinal, type RegisteredRunner, type RunnerProcess } from './support/runner';
import { TestRunner } from './support/protocol';

describe('busy long poll', () => {
  let pulse: TestPulse;
  let runner: RegisteredRunner;
  let proc: RunnerProcess;
  let repo: string;
  let scratch: string;

  beforeAll(async () => {
    pulse = await startPulse({ HEARTBEAT_INTERVAL: '30', LONG_POLL_MAX: '25', RUNNER_DEAD_AFTER: '60', CANCEL_GRACE: '120' });
    repo = makeGitRepo();
    scratch = mkdtempSync(join(tmpdir(), 'pulse-busy-poll-'));
    runner = await registerRunner(pulse, { labels: ['busy-poll'] });
    proc = startRunner(runner, { args: ['--wait', '20'] });
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'busy', repositories: [repo] });
  });
  afterAll(async () => {
    await proc?.stop();
    if (runner) cleanupRunner(runner);
    await pulse.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  async function startSilent(name: string, timeout?: number): Promise<{ id: string; pid: number }> {
    const pidFile = join(scratch, `${name}.pid`);
    const res = await pulse.http
      .post('/api/runs')
      .set(pulse.admin)
      .send({ namespace: 'busy', labels: ['busy-poll'], script: ['echo "$$" > "$PIDF"', 'exec sleep 300'], jobs: [{ repo, env: { PIDF: pidFile } }], ...(timeout && { timeout }) })
      .expect(201);
    const pid = await eventually(async () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || undefined : undefined));
    // The runner's busy heartbeat is held: nothing but the busy poll can bring the cancel now.
    await eventually(async () => Number(/^pulse_busy_polls_waiting (\d+)$/m.exec((await pulse.http.get('/metrics')).text)?.[1] ?? 0) >= 1);
    return { id: (res.body.runs as string[])[0], pid };
  }

  async function killedWithin(pid: number): Promise<number> {
    const started = Date.now();
    await eventually(async () => !isAlive(pid), 20000, 10);
    return Date.now() - started;
  }

  it('a cancel stops a silent script at once, through the held busy heartbeat', async () => {
    const { id, pid } = await startSilent('cancel');
    // On PostgreSQL, the cancel goes to a second process: the wake-up crosses processes (NOTIFY).
    const other = pulse.kind === 'postgres' ? pulse.via(await pulse.spawnAnother()) : pulse;
    const started = Date.now();
    await other.http.delete(`/api/runs/${id}`).set(pulse.admin).expect(200);
    const ms = await killedWithin(pid);
    process.stdout.write(`busy long poll (${pulse.kind}): cancel → process gone in ${Date.now() - started} ms\n`);
    expect(ms).toBeLessThan(10000); // an interval is 30 s: without the busy poll this takes up to 30 s
    expect((await waitForFinal(pulse, id)).state).toBe('canceled');
  });

  it('a run that times out on the server is stopped at once too', async () => {
    // The runner also enforces the deadline itself; the server's sweep wakes the poll as well.
    const { id, pid } = await startSilent('timeout', 3);
    const ms = await killedWithin(pid);
    process.stdout.write(`busy long poll (${pulse.kind}): timeout → process gone ${ms} ms after the pid was seen alive\n`);
    expect((await waitForFinal(pulse, id)).state).toBe('timeout');
  });

  it('answers a held busy heartbeat (scripted runner) at once on cancel, naming the run to stop', async () => {
    const scripted = await TestRunner.register(pulse, { labels: ['scripted'] });
    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'scripted', repositories: ['https://example.com/a.git'] });
    const res = await pulse.http.post('/api/runs').set(pulse.admin).send({ namespace: 'scripted', labels: ['scripted'], script: 'sleep 1', jobs: [{ repo: 'https://example.com/a.git' }] }).expect(201);
    const run = (await scripted.heartbeat()).run;
    expect(run?.id).toBe(res.body.runs[0]);
    const held = scripted.heartbeatRaw({ status: 'busy', runs: [run!.id], wait: 20 }).then((r) => r); // sent now
    // Held: the gauge counts every busy poll of this process, and the real runner of the tests
    // above may still hold one while it finishes its last run, so at least one, not exactly one.
    await eventually(async () => Number(/^pulse_busy_polls_waiting (\d+)$/m.exec((await pulse.http.get('/metrics')).text)?.[1] ?? 0) >= 1);
    const started = Date.now();
    await pulse.http.delete(`/api/runs/${run!.id}`).set(pulse.admin).expect(200);
    const answer = await held;
    expect(answer.status).toBe(200);
    expect(answer.body.heartbeat.cancel).toEqual([run!.id]);
    expect(Date.now() - started).toBeLessThan(10000);
  });
});
