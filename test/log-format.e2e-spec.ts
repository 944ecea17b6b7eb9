/**
 * LOG_FORMAT=json (orchestrator) and --log-format json (runner): one JSON object per line, for
 * log shippers, and never a token or secret in either.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, REGISTRATION_TOKEN, startPulse, TestPulse } from './support/pulse';
import { cleanupRunner, makeGitRepo, registerRunner, startRunner, waitForFinal, type RegisteredRunner } from './support/runner';

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${l}`);
      }
    });
}

describe('log format json', () => {
  let pulse: TestPulse;
  let runner: RegisteredRunner | undefined;
  let proc: ReturnType<typeof startRunner> | undefined;

  beforeAll(async () => {
    // ADMIN_TOKEN unset: generated on this first start, and never printed in JSON mode.
    pulse = await startPulse({ LOG_FORMAT: 'json', ADMIN_TOKEN: '', HEARTBEAT_INTERVAL: '0.5', LONG_POLL_MAX: '0.5', RUNNER_DEAD_AFTER: '2' });
  });
  afterAll(async () => {
    await proc?.stop();
    if (runner) cleanupRunner(runner);
    await pulse.close();
  });

  it('orchestrator and runner write one JSON object per line, without tokens', async () => {
    const secrets = JSON.parse(readFileSync(join(pulse.dataDir, 'secrets.json'), 'utf8')) as { adminToken: string };
    const admin = { Authorization: `Bearer ${secrets.adminToken}` };
    runner = await registerRunner(pulse, { labels: ['json'] });
    proc = startRunner(runner, { args: ['--log-format', 'json'] });
    const repo = makeGitRepo();
    await pulse.http.put('/api/namespaces').set(admin).send({ namespace_name: 'json', repositories: [repo] }).expect((r) => expect(r.status).toBeLessThan(300));
    const res = await pulse.http.post('/api/runs').set(admin).send({ namespace: 'json', labels: ['json'], script: ['echo hello'], jobs: [{ repo }] }).expect(201);
    expect((await waitForFinal({ ...pulse, admin }, (res.body.runs as string[])[0])).state).toBe('finished');
    await proc.stop();
    // The runner stopped heartbeating: the orchestrator logs it dead (a warn line).
    await eventually(async () => /is dead/.test(pulse.proc.output()), 30000);
    await pulse.proc.stop();

    const orchestrator = jsonLines(pulse.proc.output());
    expect(orchestrator.some((l) => typeof l.message === 'string' && l.message.startsWith('pulse: listening on'))).toBe(true);
    expect(orchestrator.some((l) => l.level === 'warn' && /is dead/.test(String(l.message)))).toBe(true);
    expect(orchestrator.some((l) => /secrets\.json/.test(String(l.message)))).toBe(true);
    for (const l of orchestrator) expect(l).toMatchObject({ level: expect.any(String), message: expect.any(String) });

    const agent = jsonLines(proc.output());
    expect(agent.some((l) => l.message === 'run started')).toBe(true);
    for (const l of agent) expect(l).toMatchObject({ time: expect.any(String), level: expect.any(String), message: expect.any(String) });

    const everything = pulse.proc.output() + proc.output();
    for (const secret of [secrets.adminToken, REGISTRATION_TOKEN, runner.token]) expect(everything).not.toContain(secret);
  });
});
