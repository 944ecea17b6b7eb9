/**
 * The real runner process (runner/dist/cli.js) against the real orchestrator (dist/), on a real
 * git repository made in a temp dir: what a user sees end to end (SPEC section 5).
 *
 * Every wait polls (`eventually`); scripts that must be "in the middle of something" block on a
 * file the test creates, so nothing depends on how fast this machine is today.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually, startPulse, type TestPulse } from './support/pulse';
import {
  RUNNER_CANARY,
  cleanupRunner,
  freePort,
  getRun,
  isAlive,
  makeGitRepo,
  readLog,
  registerRunner,
  runCli,
  startRunner,
  waitForFinal,
  waitForRun,
  type RegisteredRunner,
  type RunnerProcess,
} from './support/runner';

const FORBIDDEN = { statusCode: 403, message: 'Forbidden resource', error: 'Forbidden' };

/** Short intervals: the suite runs in tens of seconds. */
const FAST = { HEARTBEAT_INTERVAL: '1', LONG_POLL_MAX: '2', RUNNER_DEAD_AFTER: '10', CANCEL_GRACE: '60' };

interface Job {
  repo?: string;
  env?: Record<string, string>;
}

/** PUT the namespace (the given repositories) and submit one run per job; returns the run ids. */
async function submit(
  pulse: TestPulse,
  namespace: string,
  repositories: string[],
  body: { script: string[]; jobs: Job[]; labels: string[]; timeout?: number; env?: Record<string, string> },
): Promise<{ batchId: string; runs: string[] }> {
  await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: namespace, repositories }).expect((res) => {
    if (res.status !== 200 && res.status !== 201) throw new Error(`PUT namespace: ${res.status} ${JSON.stringify(res.body)}`);
  });
  const res = await pulse.http
    .post('/api/runs')
    .set(pulse.admin)
    .send({ namespace, ...body, jobs: body.jobs.map((job) => ({ repo: job.repo ?? repositories[0], ...(job.env && { env: job.env }) })) });
  if (res.status !== 201) throw new Error(`submission failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { batchId: res.body.batch_id as string, runs: res.body.runs as string[] };
}

/** Where two byte strings first differ, with some context; null when they are equal. */
function firstDifference(got: Buffer, want: Buffer): string | null {
  if (got.equals(want)) return null;
  let i = 0;
  while (i < got.length && i < want.length && got[i] === want[i]) i++;
  const around = (b: Buffer): string => JSON.stringify(b.subarray(Math.max(0, i - 60), i + 60).toString('utf8'));
  return `lengths ${got.length} vs ${want.length}; first difference at byte ${i}: got ${around(got)}, want ${around(want)}`;
}

describe('the runner process against the orchestrator', () => {
  let pulse: TestPulse;
  let repo: string;
  let scratch: string;
  let main: RegisteredRunner;
  let mainProcess: RunnerProcess;
  const extra: { runner: RegisteredRunner; proc?: RunnerProcess }[] = [];

  beforeAll(async () => {
    // A fixed port, for the outage tests at the end: the restarted orchestrator must be found
    // where it was. Dead after 60 s so that the runner's backoff across a slow restart never
    // looks like a lost runner.
    pulse = await startPulse({ ...FAST, RUNNER_DEAD_AFTER: '60', PORT: String(await freePort()) });
    repo = makeGitRepo({ 'README.md': '# a test repository\n', 'data/hello.txt': 'hello from the repository\n' });
    scratch = mkdtempSync(join(tmpdir(), 'pulse-e2e-scratch-'));
    main = await registerRunner(pulse, { name: 'e2e-main', labels: ['e2e-main'] });
    mainProcess = startRunner(main);
  }, 120000);

  afterAll(async () => {
    try {
      await Promise.all([mainProcess?.stop(), ...extra.map((e) => e.proc?.stop())]);
    } finally {
      for (const r of [main, ...extra.map((e) => e.runner)]) if (r) cleanupRunner(r);
      for (const dir of [repo, scratch]) if (dir) rmSync(dir, { recursive: true, force: true });
      await pulse?.close();
    }
  });

  /** Submits on the main runner's label, in the namespace `name`, over the test repository. */
  function submitMain(name: string, script: string[], jobs: Job[] = [{}], more: { timeout?: number; repositories?: string[] } = {}) {
    return submit(pulse, name, more.repositories ?? [repo], { script, jobs, labels: ['e2e-main'], timeout: more.timeout });
  }

  it('registers through the CLI: the runner shows up with its framework, resources and labels', async () => {
    const res = await pulse.http.get(`/api/runners/${main.id}`).set(pulse.admin).expect(200);
    expect(res.body).toMatchObject({ runner_id: main.id, name: 'e2e-main', labels: ['e2e-main'], enabled: true });
    expect(res.body.framework).toMatchObject({ name: 'shell' });
    expect(res.body.resources).toEqual({ cpu: expect.any(Number), memory: expect.any(Number), disk: expect.any(Number) });
    expect(JSON.stringify(res.body)).not.toContain(main.token);
    // The running runner heartbeats: it is alive, not dead.
    await eventually(async () => {
      const r = await pulse.http.get(`/api/runners/${main.id}`).set(pulse.admin).expect(200);
      return r.body.state === 'waiting' && r.body.last_heartbeat_at;
    });
  });

  it('clones the repository and logs stdout and stderr interleaved in the order written', async () => {
    const script = [
      'echo out-1',
      'echo err-1 >&2',
      'printf "out-2 "',
      'printf "err-2\\n" >&2',
      'cat data/hello.txt',
      'echo "héllo ✓" >&2',
      'echo out-3',
    ];
    const { runs } = await submitMain('e2e-order', script);
    const run = await waitForFinal(pulse, runs[0]);
    expect(run).toMatchObject({ state: 'finished', exit_code: 0 });
    const log = await readLog(pulse, runs[0]);
    expect(log).toBe('out-1\nerr-1\nout-2 err-2\nhello from the repository\nhéllo ✓\nout-3\n');
    expect(run.logs).toBe(Buffer.byteLength(log));
    // The workspace (clone, script, spooled log) is gone once the run is over.
    await eventually(async () => readdirSync(main.workDir).length === 0);
  });

  it("gives the script the run's env on a clean base, and nothing of the runner's (token, url, config)", async () => {
    const { runs, batchId } = await submitMain('e2e-env', ['env'], [{ env: { GREETING: 'hello world', EMPTY: '' } }]);
    const run = await waitForFinal(pulse, runs[0]);
    expect(run.state).toBe('finished');
    const log = await readLog(pulse, runs[0]);
    const env = new Map(
      log
        .split('\n')
        .filter((line) => line.includes('='))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(env.get('GREETING')).toBe('hello world');
    expect(env.get('EMPTY')).toBe('');
    expect(env.get('CI')).toBe('true');
    expect(env.get('PULSE_RUN_ID')).toBe(runs[0]);
    expect(env.get('PULSE_BATCH_ID')).toBe(batchId);
    expect(env.get('PULSE_ATTEMPT')).toBe('1');
    expect(env.get('PATH')).toBeTruthy();
    // Nothing of the runner leaks into the job.
    const port = new URL(pulse.url).port;
    expect(log).not.toContain(main.token);
    expect(log).not.toContain('pulse_rt_');
    expect(log).not.toContain(pulse.url);
    expect(log).not.toContain(`:${port}`);
    expect(log).not.toContain(main.configPath);
    expect(log).not.toContain(RUNNER_CANARY);
    expect([...env.keys()].filter((name) => name.startsWith('PULSE_RUNNER') || name === 'PULSE_URL')).toEqual([]);
  });

  it('exit 0 → finished, exit 3 → failed with exit_code 3', async () => {
    const { runs, batchId } = await submitMain('e2e-exit', ['echo "code $CODE"', 'exit $CODE'], [{ env: { CODE: '0' } }, { env: { CODE: '3' } }]);
    const [ok, bad] = await Promise.all(runs.map((id) => waitForFinal(pulse, id)));
    expect(ok).toMatchObject({ state: 'finished', exit_code: 0 });
    expect(bad).toMatchObject({ state: 'failed', exit_code: 3 });
    expect(await readLog(pulse, runs[1])).toBe('code 3\n');
    const batch = await pulse.http.get(`/api/batches/${batchId}`).set(pulse.admin).expect(200);
    expect(batch.body).toMatchObject({ run_finished: [runs[0]], run_failed: [runs[1]] });
  });

  it('cancel (DELETE /api/runs/{id}) kills the whole process group, grandchildren included, and the run ends canceled', async () => {
    const pids = join(scratch, 'cancel.pids');
    const script = [
      'sleep 300 &', // a child in the background
      'echo "$!" >> "$PIDS"',
      "bash -c 'sleep 300 & echo \"$!\" >> \"$PIDS\"; wait' &", // a grandchild, behind a subshell
      'echo "$!" >> "$PIDS"',
      'echo "$$" >> "$PIDS"',
      'echo started',
      'wait',
      'echo "never printed"',
    ];
    const { runs } = await submitMain('e2e-cancel', script, [{ env: { PIDS: pids } }]);
    const list = await eventually(async () => {
      const found = existsSync(pids) ? readFileSync(pids, 'utf8').trim().split(/\s+/).map(Number) : [];
      return found.length === 4 ? found : undefined;
    });
    expect(list.every(isAlive)).toBe(true);
    await pulse.http.delete(`/api/runs/${runs[0]}`).set(pulse.admin).expect(200);
    const run = await waitForFinal(pulse, runs[0]);
    expect(run.state).toBe('canceled');
    // Canceled by the runner's confirmation (CANCEL_GRACE is 60 s): every process of the group is gone.
    await eventually(async () => list.every((pid) => !isAlive(pid)), 15000);
    const log = await readLog(pulse, runs[0]);
    expect(log).toMatch(/^started\n/);
    expect(log).not.toContain('never printed');
  });

  it('timeout 2 → the group is stopped and the run ends timeout', async () => {
    const pids = join(scratch, 'timeout.pids');
    const { runs } = await submitMain('e2e-timeout', ['echo "$$" >> "$PIDS"', 'echo before', 'sleep 120', 'echo after'], [{ env: { PIDS: pids } }], { timeout: 2 });
    const run = await waitForFinal(pulse, runs[0]);
    expect(run.state).toBe('timeout');
    const log = await readLog(pulse, runs[0]);
    expect(log).toMatch(/^before\n/);
    expect(log).not.toContain('after');
    const pid = Number(readFileSync(pids, 'utf8').trim());
    await eventually(async () => !isAlive(pid), 15000);
  });

  it("refuses a repo starting with '-' and an ext:: repo: the run fails with a log line saying why, git never runs them", async () => {
    const marker = join(scratch, 'pwned');
    const dash = `--upload-pack=touch ${marker}`;
    const ext = `ext::sh -c touch% ${marker}`;
    const { runs } = await submitMain('e2e-refused', ['echo "script ran"'], [{ repo: dash }, { repo: ext }], { repositories: [dash, ext] });
    const [a, b] = await Promise.all(runs.map((id) => waitForFinal(pulse, id)));
    expect(a.state).toBe('failed');
    expect(b.state).toBe('failed');
    const [logA, logB] = await Promise.all(runs.map((id) => readLog(pulse, id)));
    expect(logA).toContain('refusing repository');
    expect(logA).toContain("starts with '-'");
    expect(logB).toContain('refusing repository');
    expect(logB).toContain('ext::');
    expect(logA + logB).not.toContain('script ran');
    expect(existsSync(marker)).toBe(false);
  });

  it('SIGTERM: the runner takes no new work, lets the current run finish and upload, then exits 0', async () => {
    const runner = await registerRunner(pulse, { labels: ['e2e-sigterm'] });
    const proc = startRunner(runner);
    extra.push({ runner, proc });
    const go = [join(scratch, 'sigterm-0.go'), join(scratch, 'sigterm-1.go')];
    const script = ['echo started', 'while [ ! -e "$GO" ]; do sleep 0.1; done', 'echo "finished after the signal"'];
    const { runs } = await submit(pulse, 'e2e-sigterm', [repo], {
      script,
      jobs: go.map((file) => ({ env: { GO: file } })),
      labels: ['e2e-sigterm'],
    });
    // Whichever run it took first is running its script.
    const { first } = await eventually(async () => {
      for (const [index, id] of runs.entries()) {
        const run = await getRun(pulse, id);
        if (run.state === 'running' && (await readLog(pulse, id)).startsWith('started')) return { first: index };
      }
      return undefined;
    });
    proc.signal('SIGTERM');
    await eventually(async () => proc.output().includes('stopping after the current run'));
    writeFileSync(go[first], '');
    expect(await proc.exited).toBe(0);
    expect(await getRun(pulse, runs[first])).toMatchObject({ state: 'finished', exit_code: 0 });
    expect(await readLog(pulse, runs[first])).toBe('started\nfinished after the signal\n');
    // It did not take the second run on its way out.
    expect((await getRun(pulse, runs[1 - first])).state).toBe('waiting');
    expect(proc.output()).toMatch(new RegExp(`run ended run=${runs[first]} status=finished exitCode=0`));

    // Started again on the same config, it takes the second run; a second signal cancels it.
    const again = startRunner(runner);
    extra.push({ runner, proc: again });
    const second = runs[1 - first];
    await eventually(async () => (await readLog(pulse, second)).startsWith('started'));
    again.signal('SIGTERM');
    await eventually(async () => again.output().includes('stopping after the current run'));
    again.signal('SIGTERM');
    expect(await again.exited).toBe(0);
    expect((await getRun(pulse, second)).state).toBe('canceled');
    expect(existsSync(go[1 - first])).toBe(false);
  });

  it('unregister: the CLI deregisters, removes its config; the running runner stops; the token then gets 403', async () => {
    const runner = await registerRunner(pulse, { labels: ['e2e-unregister'] });
    const proc = startRunner(runner);
    extra.push({ runner, proc });
    await eventually(async () => {
      const r = await pulse.http.get(`/api/runners/${runner.id}`).set(pulse.admin).expect(200);
      return r.body.last_heartbeat_at;
    });
    const result = await runCli(['unregister', '--config', runner.configPath]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(`unregistered runner ${runner.id}`);
    expect(result.code).toBe(0);
    expect(existsSync(runner.configPath)).toBe(false);
    // The running process hears 403 on its next heartbeat and stops with one clear line.
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('runner was deregistered');
    const res = await pulse.http
      .post('/api/runner/heartbeat')
      .set({ Authorization: `Bearer ${runner.token}` })
      .send({ id: runner.id, status: 'ready' })
      .expect(403);
    expect(res.body).toEqual(FORBIDDEN);
    expect(proc.output()).not.toContain(runner.token);
  });

  // Last: the orchestrator goes away and comes back on the same data and the same port (the
  // runner must find it where it left it), so these run after everything else.
  describe('an orchestrator outage while a run streams its log', () => {
    let outage: RunnerProcess;

    beforeAll(async () => {
      const runner = await registerRunner(pulse, { labels: ['e2e-outage'] });
      outage = startRunner(runner);
      extra.push({ runner, proc: outage });
    });

    it.each([
      ['stopped (SIGTERM)', 'sigterm', (p: TestPulse) => p.proc.stop()],
      ['killed (kill -9)', 'kill9', (p: TestPulse) => p.proc.kill9()],
    ])('orchestrator %s and restarted: no log byte lost or doubled, and the run completes', async (_how, tag, takeDown) => {
      const expected = join(scratch, `outage-${tag}.expected.log`);
      const stop = join(scratch, `outage-${tag}.stop`);
      // Numbered lines, about 40 KB a second, so that the outage leaves more than a 64 KiB chunk
      // waiting; each line is also appended to a file, the reference the stored log must equal
      // byte for byte.
      const script = [
        'pad=$(printf "%0100d" 0)',
        'i=0',
        'while [ ! -e "$STOP" ] || [ "$i" -lt 2000 ]; do',
        '  i=$((i + 1))',
        '  line="line $i $pad"',
        '  echo "$line"',
        '  echo "$line" >> "$EXPECTED"',
        '  if [ $((i % 20)) -eq 0 ]; then sleep 0.05; fi',
        'done',
        'echo "last line after $i"',
        'echo "last line after $i" >> "$EXPECTED"',
      ];
      const { runs } = await submit(pulse, `e2e-outage-${tag}`, [repo], {
        script,
        jobs: [{ env: { EXPECTED: expected, STOP: stop } }],
        labels: ['e2e-outage'],
      });
      const id = runs[0];
      // Streaming: the server holds some of the log already.
      await waitForRun(pulse, id, (run) => run.state === 'running' && run.logs > 10_000);
      const lines = (): number => (existsSync(expected) ? readFileSync(expected, 'utf8').split('\n').length - 1 : 0);
      const retriesBefore = (outage.output().match(/retrying/g) ?? []).length;

      await takeDown(pulse);
      // The script keeps writing while nobody listens: its output waits in the runner's spool.
      const atOutage = lines();
      await eventually(async () => lines() > atOutage + 1000, 30000);
      await pulse.restart();

      // The runner reconnects and catches up (about 110 bytes a line); then the script is told to end.
      const afterRestart = lines();
      await eventually(async () => (await getRun(pulse, id)).logs >= afterRestart * 100, 60000);
      writeFileSync(stop, '');

      const run = await waitForFinal(pulse, id, 60000);
      expect(run).toMatchObject({ state: 'finished', exit_code: 0, attempt: 1 });
      const reference = readFileSync(expected);
      const stored = await readLog(pulse, id);
      expect(Buffer.byteLength(stored)).toBe(reference.length);
      expect(firstDifference(Buffer.from(stored), reference)).toBeNull(); // exact, without a megabyte-long diff
      expect(run.logs).toBe(reference.length);
      // The runner saw the outage and retried through it.
      expect((outage.output().match(/retrying/g) ?? []).length).toBeGreaterThan(retriesBefore);
    }, 150000);
  });
});
