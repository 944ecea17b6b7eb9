import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient } from './api-client';
import { loadConfig, saveConfig } from './config';
import { RunnerCredentials } from './credentials';
import { Transport } from './http';
import { FakeOrchestrator } from './test-support/fake-orchestrator';
import { cleanTempDirs, tempDir } from './test-support/helpers';

afterAll(cleanTempDirs);

describe('runner token rotation (credentials)', () => {
  it('saves an offered token before using it, and keeps the current one when it cannot be saved', async () => {
    const saved: Array<[string, string | undefined]> = [];
    const credentials = new RunnerCredentials('pulse_rt_old', undefined, async (current, previous) => {
      expect(credentials.current).toBe('pulse_rt_old'); // not in use before it is saved
      saved.push([current, previous]);
    });
    expect(await credentials.adopt('pulse_rt_new')).toBe(true);
    expect(saved).toEqual([['pulse_rt_new', 'pulse_rt_old']]);
    expect([credentials.current, credentials.previous]).toEqual(['pulse_rt_new', 'pulse_rt_old']);
    expect(await credentials.adopt('pulse_rt_new')).toBe(false);

    const failing = new RunnerCredentials('pulse_rt_a', undefined, () => Promise.reject(new Error('disk full')));
    await expect(failing.adopt('pulse_rt_b')).rejects.toThrow('disk full');
    expect(failing.current).toBe('pulse_rt_a');
  });

  it('the config file holds both tokens, written durably', async () => {
    const path = join(tempDir(), 'c', 'config.json');
    await saveConfig(path, { url: 'https://x', runnerId: 'r', runnerToken: 'pulse_rt_new', previousRunnerToken: 'pulse_rt_old' });
    expect(await loadConfig(path)).toMatchObject({ runnerToken: 'pulse_rt_new', previousRunnerToken: 'pulse_rt_old' });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toHaveProperty('previousRunnerToken', 'pulse_rt_old');
  });

  describe('against a fake orchestrator', () => {
    let fake: FakeOrchestrator;
    let transport: Transport;

    beforeEach(async () => {
      fake = await FakeOrchestrator.start();
      transport = new Transport({ userAgent: 'pulse-runner-spec' });
    });
    afterEach(async () => {
      transport.close();
      await fake.close();
    });

    it('a 401 is tried once more with the previous token, which then stays in use', async () => {
      const credentials = new RunnerCredentials('pulse_rt_refused', fake.runnerToken);
      const api = new ApiClient(fake.url, transport, { token: credentials, timeoutMs: 5000 });
      const reply = await api.heartbeat({ id: fake.runnerId, status: 'ready', runs: [] });
      expect(reply.status).toBe('ok');
      expect(credentials.current).toBe(fake.runnerToken);
      expect(fake.heartbeats().map((r) => r.headers.authorization)).toEqual([`Bearer pulse_rt_refused`, `Bearer ${fake.runnerToken}`]);
      // Without a previous token, a 401 is final.
      const alone = new ApiClient(fake.url, transport, { token: 'pulse_rt_refused', timeoutMs: 5000 });
      await expect(alone.heartbeat({ id: fake.runnerId, status: 'ready', runs: [] })).rejects.toMatchObject({ status: 401 });
    });

    it('reads an offered token from the heartbeat answer', async () => {
      fake.intercept((req) =>
        req.path === '/api/runner/heartbeat'
          ? { status: 200, body: { heartbeat: { status: 'ok', interval: 1, token: { value: 'pulse_rt_offered', expires_at: '2030-01-01T00:00:00.000Z' } } } }
          : undefined,
      );
      const api = new ApiClient(fake.url, transport, { token: fake.runnerToken, timeoutMs: 5000 });
      const reply = await api.heartbeat({ id: fake.runnerId, status: 'ready', runs: [] });
      expect(reply.token).toEqual({ value: 'pulse_rt_offered', expiresAt: '2030-01-01T00:00:00.000Z' });
    });
  });
});
