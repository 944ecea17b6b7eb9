import { readdirSync } from 'node:fs';
import type { ApiClient, RunAssignment } from './api-client';
import { Transport } from './http';
import { Job, type JobOptions, type JobOutcome } from './job';
import { silentLogger } from './logger';
import { FakeOrchestrator, waitFor } from './test-support/fake-orchestrator';
import { cleanTempDirs, clientFor, isAlive, jobOptions, makeGitRepo, numberAfter } from './test-support/helpers';

describe('Job (against a fake orchestrator over HTTP)', () => {
  let fake: FakeOrchestrator;
  let transport: Transport;
  let api: ApiClient;
  let repo: string;

  beforeAll(() => {
    repo = makeGitRepo();
  });
  beforeEach(async () => {
    fake = await FakeOrchestrator.start();
    transport = new Transport({ userAgent: 'spec' });
    api = clientFor(fake, transport);
  });
  afterEach(async () => {
    transport.close();
    await fake.close();
  });
  afterAll(cleanTempDirs);

  function start(
    run: Partial<RunAssignment> & { script: string[] },
    overrides: Partial<JobOptions> = {},
  ): { assignment: RunAssignment; options: JobOptions; job: Job; outcome: Promise<JobOutcome> } {
    const assignment = fake.assign({ repo, ...run });
    const options = jobOptions(overrides);
    const job = new Job(assignment, api, fake.runnerId, options, silentLogger, { onFatal: () => undefined });
    return { assignment, options, job, outcome: job.run() };
  }

  /** Text written by the script, with our own notes left out. */
  const scriptOutput = (log: string): string =>
    log
      .split('\n')
      .filter((line) => !line.startsWith('pulse-runner: '))
      .join('\n');

  it('acknowledges at once, runs the script in the clone, reports finished and removes the workspace', async () => {
    const { assignment, options, outcome } = start({ script: ['echo hello', 'cat README.md'] });
    expect(await outcome).toMatchObject({ kind: 'completed', status: 'finished', exitCode: 0 });
    const first = fake.updates(assignment.id)[0];
    expect(first.body).toEqual({ messageId: assignment.messageId, offset: 0, logs: '' });
    expect(fake.log(assignment.id)).toBe('hello\nhello from the repo\n');
    expect(fake.result(assignment.id)).toEqual({ id: assignment.id, status: 'finished', exitCode: 0, logBytes: 26 });
    const [complete] = fake.completes();
    expect(complete.path).toBe(`/api/runner/complete/${fake.runnerId}/${assignment.project}`);
    expect(complete.body.messageId).toBe(assignment.messageId);
    expect(readdirSync(options.workDir)).toEqual([]);
    expect(fake.badRequests).toEqual([]);
  });

  it('reports a non-zero exit as failed with its exit code', async () => {
    const { assignment, outcome } = start({ script: ['echo nope >&2', 'exit 3'] });
    expect(await outcome).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(fake.result(assignment.id)).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(fake.log(assignment.id)).toBe('nope\n');
  });

  it('interleaves stdout and stderr in order and ships lots of output in ordered chunks of at most 64 KiB', async () => {
    const { assignment, outcome } = start({
      script: ['for i in $(seq 1 20000); do echo "out $i"; echo "err $i" >&2; done'],
    });
    expect(await outcome).toMatchObject({ status: 'finished' });
    let expected = '';
    for (let i = 1; i <= 20000; i++) expected += `out ${i}\nerr ${i}\n`;
    expect(fake.log(assignment.id)).toBe(expected);

    let offset = 0;
    const withLogs = fake.updates(assignment.id).filter((u) => u.body.logs !== '');
    for (const update of withLogs) {
      const bytes = Buffer.byteLength(update.body.logs as string);
      expect(bytes).toBeLessThanOrEqual(64 * 1024);
      expect(update.body.offset).toBe(offset);
      offset += bytes;
    }
    expect(offset).toBe(Buffer.byteLength(expected));
    expect(withLogs.length).toBeGreaterThanOrEqual(Math.ceil(offset / (64 * 1024)));
    expect(fake.result(assignment.id)?.logBytes).toBe(offset);
  });

  it('never splits a multi-byte character across chunks', async () => {
    const { assignment, outcome } = start({ script: ["for i in $(seq 1 20000); do printf 'é€😀'; done"] });
    await outcome;
    for (const update of fake.updates(assignment.id)) expect(update.body.logs).not.toContain('\uFFFD');
    expect(fake.log(assignment.id)).toBe('é€😀'.repeat(20000));
    expect(fake.result(assignment.id)?.logBytes).toBe(20000 * 9);
  });

  it('replaces invalid UTF-8 and counts the bytes actually sent', async () => {
    const { assignment, outcome } = start({ script: ["printf 'ok\\377\\n'"] });
    await outcome;
    expect(fake.log(assignment.id)).toBe('ok\uFFFD\n');
    expect(fake.result(assignment.id)?.logBytes).toBe(fake.logBuffer(assignment.id).length);
  });

  it('resends from expectedOffset after a 416, for updates and for complete: the log ends byte-identical', async () => {
    let lostOnce = false;
    let completeGap = false;
    fake.intercept((req) => {
      const id = /\/runs\/([^/]+)\/update$/.exec(req.path)?.[1];
      if (id && !lostOnce && fake.logBuffer(id).length > 100) {
        lostOnce = true;
        fake.truncateLog(id, 40); // a restart lost what it had not flushed
      }
      if (req.path.startsWith('/api/runner/complete/') && !completeGap) {
        completeGap = true;
        const runId = (req.body.result as { id: string }).id;
        fake.truncateLog(runId, fake.logBuffer(runId).length - 7);
      }
      return undefined;
    });
    const { assignment, outcome } = start({ script: ['for i in $(seq 1 40); do echo "line $i"; sleep 0.01; done'] });
    expect(await outcome).toMatchObject({ status: 'finished' });
    let expected = '';
    for (let i = 1; i <= 40; i++) expected += `line ${i}\n`;
    expect(fake.log(assignment.id)).toBe(expected);
    expect(lostOnce).toBe(true);
    expect(fake.updates(assignment.id).some((u) => u.body.offset === 40)).toBe(true);
    expect(fake.completes()).toHaveLength(2);
    expect(fake.result(assignment.id)?.logBytes).toBe(Buffer.byteLength(expected));
    expect(fake.badRequests).toEqual([]);
  });

  it('rides out dropped connections and 5xx without losing or doubling a byte', async () => {
    let n = 0;
    let faults = 0;
    fake.intercept((req) => {
      n++;
      const fault = (reply: 'drop' | { status: number; body: unknown }) => {
        faults++;
        return reply;
      };
      if (req.path.includes('/update') && n % 3 === 0) return fault('drop');
      if (req.path.includes('/update') && n % 5 === 0) return fault({ status: 503, body: { statusCode: 503, message: 'db down' } });
      if (req.path.startsWith('/api/runner/complete/') && n % 2 === 0) return fault('drop');
      return undefined;
    });
    const { assignment, outcome } = start({ script: ['for i in $(seq 1 3000); do echo "row $i"; done; sleep 0.3; echo done'] });
    expect(await outcome).toMatchObject({ status: 'finished' });
    let expected = '';
    for (let i = 1; i <= 3000; i++) expected += `row ${i}\n`;
    expect(fake.log(assignment.id)).toBe(`${expected}done\n`);
    expect(faults).toBeGreaterThan(0);
    expect(fake.badRequests).toEqual([]);
  });

  it('stops the run on 409: process group killed, no complete', async () => {
    fake.intercept((req) => {
      const id = /\/runs\/([^/]+)\/update$/.exec(req.path)?.[1];
      if (id && fake.log(id).includes('child=')) return { status: 409, body: { statusCode: 409, message: 'lease lost' } };
      return undefined;
    });
    const { assignment, options, outcome } = start({
      script: ['sleep 300 &', 'echo "child=$!"', 'while true; do echo tick; sleep 0.05; done'],
    });
    expect(await outcome).toMatchObject({ kind: 'dropped' });
    const child = numberAfter(fake.log(assignment.id), 'child');
    await waitFor(() => !isAlive(child), 5000, 'the background sleep to die');
    expect(fake.completes()).toHaveLength(0);
    expect(readdirSync(options.workDir)).toEqual([]);
  });

  it('does not even clone when the acknowledgement gets 409', async () => {
    const assignment = fake.assign({ repo, script: ['echo never'] });
    const stale = { ...assignment, messageId: 'an-old-lease' };
    const job = new Job(stale, api, fake.runnerId, jobOptions(), silentLogger, { onFatal: () => undefined });
    expect(await job.run()).toMatchObject({ kind: 'dropped' });
    expect(fake.updates(assignment.id)).toHaveLength(1);
    expect(fake.completes()).toHaveLength(0);
  });

  it('cancels on `cancel: true` in an update answer: reports canceled, grandchild gone', async () => {
    const { assignment, outcome } = start({
      script: ['sleep 300 &', 'echo "child=$!"', 'while true; do echo tick; sleep 0.05; done'],
    });
    await waitFor(() => fake.log(assignment.id).includes('child='), 5000, 'the script to start');
    fake.cancelInUpdate.add(assignment.id);
    expect(await outcome).toMatchObject({ kind: 'completed', status: 'canceled' });
    const result = fake.result(assignment.id);
    expect(result).toMatchObject({ status: 'canceled' });
    expect(result?.exitCode).toBeUndefined();
    expect(fake.log(assignment.id)).toContain('pulse-runner: the run was canceled; stopping it\n');
    expect(isAlive(numberAfter(fake.log(assignment.id), 'child'))).toBe(false);
  });

  it('on the deadline sends TERM, then KILL after the grace, and reports timeout', async () => {
    const started = Date.now();
    const { assignment, outcome } = start(
      { timeout: 1, script: ['trap "echo got TERM" TERM', 'echo ready', 'while true; do sleep 0.1; done'] },
      { killGraceMs: 500 },
    );
    expect(await outcome).toMatchObject({ status: 'timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400); // deadline + grace, as a lower bound only
    const log = fake.log(assignment.id);
    expect(log).toContain('ready\n');
    expect(log).toContain('pulse-runner: the run exceeded its timeout of 1s; stopping it\n');
    expect(log).toContain('got TERM\n'); // TERM came first, and the trap survived it: KILL ended it
    expect(fake.result(assignment.id)).toMatchObject({ status: 'timeout' });
  });

  it.each([
    ['ext::sh -c touch% /tmp/pulse-pwned', 'ext:: transport'],
    ['--upload-pack=touch /tmp/pulse-pwned', "starts with '-'"],
    ['-', "starts with '-'"],
  ])('refuses %j with a log line and result failed', async (badRepo, reason) => {
    const { assignment, outcome } = start({ repo: badRepo, script: ['echo should not run'] });
    expect(await outcome).toMatchObject({ status: 'failed' });
    const log = fake.log(assignment.id);
    expect(log).toMatch(/^pulse-runner: refusing repository .*\n$/);
    expect(log).toContain(reason);
    expect(log).not.toContain('should not run');
    expect(fake.result(assignment.id)?.exitCode).toBeUndefined();
  });

  it('refuses a local repository unless local repos are allowed', async () => {
    const { assignment, outcome } = start({ script: ['echo no'] }, { allowLocalRepos: false });
    expect(await outcome).toMatchObject({ status: 'failed' });
    expect(fake.log(assignment.id)).toContain('--allow-local-repos');
  });

  it('fails with a log line when the clone fails', async () => {
    const { assignment, outcome } = start({ repo: '/nonexistent/pulse/repo', script: ['echo no'] });
    expect(await outcome).toMatchObject({ status: 'failed' });
    expect(fake.log(assignment.id)).toContain('pulse-runner: git clone of /nonexistent/pulse/repo failed (exit code 128)');
  });

  it('runs the script in a clean environment with the run env on top', async () => {
    process.env.PULSE_SPEC_LEAK = 'runner-secret';
    try {
      const { assignment, outcome } = start({ script: ['env'], env: { FOO: 'bar baz', LANG: 'C' }, attempt: 2 });
      await outcome;
      const lines = fake.log(assignment.id).split('\n');
      expect(lines).toEqual(
        expect.arrayContaining([
          'FOO=bar baz',
          'LANG=C',
          'CI=true',
          `PULSE_RUN_ID=${assignment.id}`,
          `PULSE_BATCH_ID=${assignment.project}`,
          'PULSE_ATTEMPT=2',
          'SHELL=bash',
          `HOME=${process.env.HOME ?? ''}`,
        ]),
      );
      expect(lines.some((l) => l.startsWith('PATH='))).toBe(true);
      expect(lines.some((l) => l.startsWith('TMPDIR='))).toBe(true);
      const log = fake.log(assignment.id);
      expect(log).not.toContain('PULSE_SPEC_LEAK');
      expect(log).not.toContain(fake.runnerToken);
      expect(log).not.toContain(fake.url);
      expect(scriptOutput(log)).toBe(log);
    } finally {
      delete process.env.PULSE_SPEC_LEAK;
    }
  });
});
