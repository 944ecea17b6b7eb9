import { spawn } from 'node:child_process';
import { mkdtempSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startPulse, TestPulse, spawnPulse } from './support/pulse';
import { submit, TestRunner } from './support/protocol';

const MAIN = resolve(__dirname, '../dist/src/main.js');

function runMain(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', ...env } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => done({ code, out }));
  });
}

describe('operations', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse({ RUNNER_RATE_LIMIT: '2', LONG_POLL_MAX: '20', RUNNER_DEAD_AFTER: '30' });
  });
  afterAll(() => pulse.close());

  it('GET /metrics speaks Prometheus text with heartbeats, dispatches, latency, queue depth and runners', async () => {
    const runner = await TestRunner.register(pulse, { labels: ['m'] });
    await submit(pulse, { namespace: 'metrics-ns', labels: ['m'], repos: ['https://example.com/a.git', 'https://example.com/b.git'] }, [
      'https://example.com/a.git',
      'https://example.com/b.git',
    ]);
    expect((await runner.heartbeat()).run).toBeDefined();
    const res = await pulse.http.get('/metrics').expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    expect(res.text).toMatch(/^pulse_heartbeats_total [1-9]\d*$/m);
    expect(res.text).toMatch(/^pulse_dispatches_total 1$/m);
    expect(res.text).toMatch(/^pulse_dispatch_latency_seconds_count 1$/m);
    expect(res.text).toMatch(/^pulse_queue_depth\{namespace="metrics-ns"\} 1$/m);
    expect(res.text).toMatch(/^pulse_runners\{state="running"\} 1$/m);
    expect(res.text).toMatch(/^# TYPE pulse_sweeps_total counter$/m);
    for (const q of ['0.5', '0.99', '1']) {
      const value = new RegExp(`^pulse_event_loop_delay_seconds\\{quantile="${q}"\\} (\\S+)$`, 'm').exec(res.text)?.[1];
      expect(Number(value)).toBeGreaterThanOrEqual(0);
    }
  });

  it('limits runner routes per runner (429 with Retry-After), not per IP', async () => {
    const noisy = await TestRunner.register(pulse);
    const quiet = await TestRunner.register(pulse);
    const statuses: number[] = [];
    let retryAfter: string | undefined;
    for (let i = 0; i < 12; i++) {
      const res = await noisy.heartbeatRaw({ status: 'busy', runs: [] });
      statuses.push(res.status);
      if (res.status === 429) {
        retryAfter = res.headers['retry-after'];
        expect(res.body).toMatchObject({ statusCode: 429, error: 'Too Many Requests' });
      }
    }
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // Same IP, another runner: unaffected.
    await quiet.heartbeatRaw({ status: 'busy', runs: [] }).expect(200);
  });

  it('GET /api/health needs no token', async () => {
    const res = await pulse.http.get('/api/health').expect(200);
    expect(res.body).toMatchObject({ status: 'ok', database: 'up' });
  });
});

describe('start-up and shutdown', () => {
  it('a bad variable stops start-up with a message naming it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pulse-cfg-'));
    for (const [name, value] of [
      ['HEARTBEAT_INTERVAL', 'soon'],
      ['PORT', '99999'],
      ['MAX_ATTEMPTS', '0'],
      ['DATABASE_URL', 'mysql://x'],
    ]) {
      const { code, out } = await runMain({ DATA_DIR: dataDir, [name]: value });
      expect(code).toBe(2);
      expect(out).toContain(name);
      expect(out).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it('generates the tokens on first start, stores them 0600, prints them once', async () => {
    // Two cold starts of the embedded database (initdb in WebAssembly): slow on a loaded machine.
    const dataDir = mkdtempSync(join(tmpdir(), 'pulse-tok-'));
    const env = { DATA_DIR: dataDir, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn' };
    const first = await spawnPulse(env);
    await first.stop();
    const secrets = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8')) as Record<string, string>;
    expect(statSync(join(dataDir, 'secrets.json')).mode & 0o777).toBe(0o600);
    expect(first.output()).toContain(`ADMIN_TOKEN=${secrets.adminToken}`);
    expect(first.output()).toContain(`RUNNER_REGISTRATION_TOKEN=${secrets.registrationToken}`);
    const second = await spawnPulse(env);
    await second.stop();
    expect(second.output()).not.toContain(secrets.adminToken);
    expect(second.output()).not.toContain(secrets.registrationToken);
  }, 180_000);

  it('SIGTERM answers a pending long poll at once and exits 0', async () => {
    const pulse = await startPulse({ LONG_POLL_MAX: '20', RUNNER_DEAD_AFTER: '30' });
    try {
      const runner = await TestRunner.register(pulse);
      const poll = runner.heartbeatRaw({ status: 'ready', runs: [], wait: 20 }).then((r) => r);
      await new Promise((r) => setTimeout(r, 500));
      const started = Date.now();
      const exit = pulse.proc.stop();
      const res = await poll;
      expect(res.status).toBe(200);
      expect(res.body.heartbeat.run).toBeUndefined();
      expect(await exit).toBe(0);
      // Far below the 20 s the poll would otherwise have waited.
      expect(Date.now() - started).toBeLessThan(15000);
    } finally {
      await pulse.close();
    }
  });
});
