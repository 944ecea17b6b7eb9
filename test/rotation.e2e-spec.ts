import { createServer, request as httpRequest, type Server } from 'node:http';
import { readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { TestRunner } from './support/protocol';
import { eventually, startPulse, TestPulse } from './support/pulse';
import {
  cleanupRunner,
  makeGitRepo,
  registerRunner,
  startRunner,
  waitForFinal,
  type RegisteredRunner,
  type RunnerProcess,
} from './support/runner';

/**
 * Runner token rotation (SPEC section 12) with a short RUNNER_TOKEN_TTL: offers in the last
 * quarter of a token's life, the old token kept for a while after the new one is used, a lost
 * offer replaced by a fresh one, 401 `runner token expired` after expiry; and the real runner
 * rotating through minutes of runs, killed with kill -9 around rotations, and behind a proxy that
 * eats one answer carrying an offer.
 */
const TTL = 12;
const FAST = { HEARTBEAT_INTERVAL: '0.5', LONG_POLL_MAX: '1', RUNNER_DEAD_AFTER: '10', RUNNER_TOKEN_TTL: String(TTL) };
const RUNNER_ARGS = ['--wait', '1'];

interface StoredTokens {
  url: string;
  runnerToken: string;
  previousRunnerToken?: string;
}

function readConfig(runner: RegisteredRunner): StoredTokens {
  return JSON.parse(readFileSync(runner.configPath, 'utf8')) as StoredTokens;
}

describe('runner token rotation', () => {
  let pulse: TestPulse;
  let repo: string;
  const cleanup: Array<() => Promise<unknown> | void> = [];

  beforeAll(async () => {
    pulse = await startPulse(FAST);
    repo = makeGitRepo();
  });
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
    rmSync(repo, { recursive: true, force: true });
    await pulse?.close();
  });

  async function rotations(runnerId: string): Promise<number> {
    const items = (await pulse.http.get('/api/audit?action=runner.token_rotated&limit=500').set(pulse.admin).expect(200)).body
      .items as Array<{ subject: { id: string }; data: { rotation: string } }>;
    return items.filter((e) => e.subject.id === runnerId && e.data.rotation === 'completed').length;
  }

  describe('the protocol', () => {
    it('no offer early in a token\'s life; rotate-token makes the next answer offer one; only the latest offer is valid', async () => {
      const runner = await TestRunner.register(pulse);
      expect((await runner.heartbeat()).token).toBeUndefined();
      await pulse.http.post(`/api/runners/${runner.id}/rotate-token`).set(pulse.admin).send({}).expect(200);
      const first = (await runner.heartbeat()).token;
      expect(first?.value).toMatch(/^pulse_rt_/);
      expect(new Date(first!.expires_at as string).getTime()).toBeGreaterThan(Date.now() + (TTL - 3) * 1000);
      // The answer was "lost": the next heartbeat, still with the old token, gets a fresh offer.
      const second = (await runner.heartbeat()).token;
      expect(second?.value).toMatch(/^pulse_rt_/);
      expect(second?.value).not.toBe(first?.value);
      const hb = (token: string) =>
        pulse.http.post('/api/runner/heartbeat').set({ Authorization: `Bearer ${token}` }).send({ id: runner.id, status: 'ready', runs: [] });
      expect((await hb(first!.value)).status).toBe(401);
      const used = await hb(second!.value).expect(200);
      expect(used.body.heartbeat.token).toBeUndefined();
      // The old token still works (10 minutes, never past its own expiry); a runner back on it
      // lost the new one, so it is offered another at once.
      const old = await hb(runner.token).expect(200);
      expect(old.body.heartbeat.token).toBeDefined();
      expect(await rotations(runner.id)).toBe(1);
    });

    it('offers in the last quarter of the TTL; an expired token gets 401 "runner token expired"', async () => {
      const runner = await TestRunner.register(pulse);
      const registered = Date.now();
      // Heartbeats before the last quarter carry no offer; the first one inside it does.
      const offered = await eventually(async () => (await runner.heartbeat()).token, (TTL + 5) * 1000, 250);
      expect(Date.now() - registered).toBeGreaterThanOrEqual(TTL * 750 - 500);
      expect(offered.value).toMatch(/^pulse_rt_/);
      await eventually(async () => (await runner.heartbeatRaw({ status: 'ready', runs: [] })).status === 401, (TTL + 5) * 1000, 250);
      const res = await runner.heartbeatRaw({ status: 'ready', runs: [] }).expect(401);
      expect(res.body.message).toBe('runner token expired');
    }, 60000);
  });

  describe('the real runner', () => {
    function start(runner: RegisteredRunner): RunnerProcess {
      const proc = startRunner(runner, { args: RUNNER_ARGS });
      cleanup.push(() => proc.stop());
      return proc;
    }

    async function submit(namespace: string, label: string, jobs: number): Promise<string[]> {
      await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: namespace, repositories: [repo] });
      const res = await pulse.http
        .post('/api/runs')
        .set(pulse.admin)
        .send({ namespace, labels: [label], repos: [repo], script: ['sleep 0.3', 'echo done'], jobs: Array.from({ length: jobs }, () => ({})) })
        .expect(201);
      return res.body.runs as string[];
    }

    it('rotates several times over a stream of runs, and no run fails', async () => {
      const runner = await registerRunner(pulse, { name: 'rotating', labels: ['rot-1'] });
      cleanup.push(() => cleanupRunner(runner));
      const proc = start(runner);
      const first = readConfig(runner).runnerToken;
      const ends = Date.now() + 45_000;
      const runs: string[] = [];
      while (Date.now() < ends) {
        const batch = await submit('rot-1', 'rot-1', 3);
        runs.push(...batch);
        for (const id of batch) expect((await waitForFinal(pulse, id, 60000)).state).toBe('finished');
      }
      expect(runs.length).toBeGreaterThan(6);
      expect(await rotations(runner.id)).toBeGreaterThanOrEqual(3);
      expect(readConfig(runner).runnerToken).not.toBe(first);
      expect(proc.child.exitCode).toBeNull();
      expect(proc.output()).not.toContain(readConfig(runner).runnerToken);
    }, 120000);

    it('kill -9 at moments around rotations: the config always holds a working token', async () => {
      const runner = await registerRunner(pulse, { name: 'killed', labels: ['rot-2'] });
      cleanup.push(() => cleanupRunner(runner));
      const working = async (): Promise<boolean> => {
        const stored = readConfig(runner);
        for (const token of [stored.runnerToken, stored.previousRunnerToken]) {
          if (!token) continue;
          const res = await pulse.http
            .post('/api/runner/heartbeat')
            .set({ Authorization: `Bearer ${token}` })
            .send({ id: runner.id, status: 'ready', runs: [] });
          if (res.status === 200) return true;
        }
        return false;
      };
      const before = await rotations(runner.id);
      for (let round = 0; round < 8; round++) {
        const proc = startRunner(runner, { args: RUNNER_ARGS });
        if (round % 2 === 0) {
          // Right after the runner saved an offered token (before or just after it used it).
          await new Promise<void>((done) => {
            const watcher = watch(runner.configPath, () => {
              watcher.close();
              setTimeout(done, Math.random() * 300);
            });
            setTimeout(() => {
              watcher.close();
              done();
            }, TTL * 1000);
          });
        } else {
          await new Promise((r) => setTimeout(r, 500 + Math.random() * 4000));
        }
        proc.signal('SIGKILL');
        await proc.exited;
        expect({ round, working: await working() }).toEqual({ round, working: true });
      }
      expect(await rotations(runner.id)).toBeGreaterThan(before);
      // And it still works as a runner.
      const proc = start(runner);
      const [id] = await submit('rot-2', 'rot-2', 1);
      expect((await waitForFinal(pulse, id, 60000)).state).toBe('finished');
      expect(proc.child.exitCode).toBeNull();
    }, 180000);

    it('an answer carrying an offer that never arrives (a proxy eats it) leads to a fresh offer, not a lock-out', async () => {
      const runner = await registerRunner(pulse, { name: 'proxied', labels: ['rot-3'] });
      cleanup.push(() => cleanupRunner(runner));
      const target = new URL(pulse.url);
      const eaten: string[] = [];
      const proxy: Server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const upstream = httpRequest(
            { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
            (answer) => {
              const body: Buffer[] = [];
              answer.on('data', (c: Buffer) => body.push(c));
              answer.on('end', () => {
                const text = Buffer.concat(body).toString();
                const offer = /"token":\{"value":"(pulse_rt_[^"]+)"/.exec(text);
                if (offer && eaten.length === 0) {
                  eaten.push(offer[1]);
                  req.socket.destroy(); // the answer is lost on the way
                  return;
                }
                res.writeHead(answer.statusCode ?? 502, answer.headers);
                res.end(Buffer.concat(body));
              });
            },
          );
          upstream.on('error', () => req.socket.destroy());
          upstream.end(Buffer.concat(chunks));
        });
      });
      await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
      cleanup.push(() => new Promise((r) => proxy.close(r)));
      const address = proxy.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      writeFileSync(runner.configPath, JSON.stringify({ ...readConfig(runner), url: `http://127.0.0.1:${port}` }));
      await pulse.http.post(`/api/runners/${runner.id}/rotate-token`).set(pulse.admin).send({}).expect(200);
      const proc = start(runner);
      await eventually(async () => eaten.length === 1, 30000);
      await eventually(async () => (await rotations(runner.id)) >= 1, 30000);
      const stored = readConfig(runner);
      expect(stored.runnerToken).not.toBe(eaten[0]);
      expect(stored.previousRunnerToken).toBe(runner.token);
      // The eaten offer is worth nothing now.
      const res = await pulse.http
        .post('/api/runner/heartbeat')
        .set({ Authorization: `Bearer ${eaten[0]}` })
        .send({ id: runner.id, status: 'ready', runs: [] });
      expect(res.status).toBe(401);
      const [id] = await submit('rot-3', 'rot-3', 1);
      expect((await waitForFinal(pulse, id, 60000)).state).toBe('finished');
      expect(proc.child.exitCode).toBeNull();
    }, 90000);
  });
});
