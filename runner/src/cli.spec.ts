/**
 * The CLI as users run it: the compiled dist/cli.js in a child process, against the fake
 * orchestrator. Compiled here into a temp dir, so the spec never depends on a stale build.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { saveConfig } from './config';
import { FakeOrchestrator, waitFor } from './test-support/fake-orchestrator';
import { cleanTempDirs, makeGitRepo, tempDir } from './test-support/helpers';

const runnerDir = join(__dirname, '..');
let cli: string;
let home: string;

beforeAll(() => {
  const out = tempDir('pulse-cli-build-');
  const tsc = join(dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
  const build = spawnSync(process.execPath, [tsc, '-p', join(runnerDir, 'tsconfig.json'), '--outDir', join(out, 'dist')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`build failed: ${build.stdout}${build.stderr}`);
  copyFileSync(join(runnerDir, 'package.json'), join(out, 'package.json'));
  cli = join(out, 'dist', 'cli.js');
  home = tempDir('pulse-home-');
}, 60_000);
afterAll(cleanTempDirs);

/** A clean environment: no PULSE_* from the developer's shell, a private HOME. */
function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PULSE_') && !/_proxy$/i.test(key)) env[key] = value;
  }
  return { ...env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), ...extra };
}

/**
 * Runs the CLI to its end. Asynchronously: the fake orchestrator lives in this process, and a
 * spawnSync would block the very event loop that must answer the CLI.
 */
async function runCli(args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const runner = startCli(args, extra);
  const code = await runner.exit;
  return { code, stdout: runner.stdout(), stderr: runner.stderr() };
}

function startCli(
  args: string[],
  extra: Record<string, string> = {},
): { child: ChildProcess; exit: Promise<number | null>; stdout: () => string; stderr: () => string } {
  const child = spawn(process.execPath, [cli, ...args], { env: cliEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, exit, stdout: () => stdout, stderr: () => stderr };
}

describe('pulse-runner CLI', () => {
  let fake: FakeOrchestrator;
  beforeEach(async () => {
    fake = await FakeOrchestrator.start();
  });
  afterEach(async () => {
    await fake.close();
  });

  it.each(['register', 'start', 'unregister'])('%s --help prints its usage', async (command) => {
    const { code, stdout } = await runCli([command, '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain(`Usage: pulse-runner ${command}`);
    expect(stdout).toContain('--config FILE');
  });

  it('keeps its shebang so the built file runs as a command', () => {
    expect(readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('registers from environment variables and writes a 0600 config without printing the token', async () => {
    const config = join(tempDir(), 'nested', 'config.json');
    const { code, stdout, stderr } = await runCli(['register', '--cpu', '3'], {
      PULSE_URL: `${fake.url}/`,
      PULSE_REGISTRATION_TOKEN: fake.registrationToken,
      PULSE_RUNNER_NAME: 'builder-1',
      PULSE_RUNNER_LABELS: 'linux, docker',
      PULSE_RUNNER_CONFIG: config,
    });
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toContain(`registered runner ${fake.runnerId}`);
    expect(stdout + stderr).not.toContain(fake.runnerToken);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(config, 'utf8'))).toMatchObject({ url: fake.url, runnerId: fake.runnerId, runnerToken: fake.runnerToken });
    const [registration] = fake.requestsTo('/api/runner/registration');
    expect(registration.body).toMatchObject({
      token: fake.registrationToken,
      name: 'builder-1',
      labels: ['linux', 'docker'],
      framework: { name: 'shell' },
      resources: { cpu: 3, memory: expect.any(Number), disk: expect.any(Number) },
    });
    expect(fake.badRequests).toEqual([]);

    const again = await runCli(['register', '--url', fake.url, '--registration-token', fake.registrationToken, '--config', config]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already holds a runner/);
  });

  it.each([
    ['a wrong registration token', ['--registration-token', 'wrong'], /^error: registration refused: wrong registration token \(401 Unauthorized\)\n$/],
    ['an unreachable url', ['--registration-token', 'x', '--url', 'http://127.0.0.1:9'], /^error: cannot reach http:\/\/127\.0\.0\.1:9: .*ECONNREFUSED.*\n$/],
    ['a url that is not one', ['--registration-token', 'x', '--url', 'ci.example.com'], /^error: --url \(or PULSE_URL\) is not a url/],
    ['an unknown flag', ['--colour'], /^error: Unknown option '--colour'/],
  ])('register with %s fails with one line and a non-zero exit', async (_what, args, message) => {
    const config = join(tempDir(), 'config.json');
    const { code, stderr } = await runCli(['register', '--url', fake.url, '--config', config, ...args]);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(config)).toBe(false);
  });

  it('start without a config says how to get one', async () => {
    const { code, stderr } = await runCli(['start', '--config', '/nonexistent/pulse.json']);
    expect(code).toBe(2);
    expect(stderr).toBe('error: no config at /nonexistent/pulse.json: run `pulse-runner register` first (or pass --config)\n');
  });

  describe('start', () => {
    let config: string;
    let repo: string;
    beforeEach(async () => {
      config = join(tempDir(), 'config.json');
      repo = makeGitRepo();
      await saveConfig(config, { url: fake.url, runnerId: fake.runnerId, runnerToken: fake.runnerToken });
    });
    const args = () => ['start', '--config', config, '--allow-local-repos', '--wait', '1', '--kill-grace', '1', '--work-dir', tempDir()];

    it('on SIGTERM finishes the current run, uploads it and exits 0', async () => {
      const runner = startCli(args());
      const run = fake.enqueue({ repo, script: ['echo start', 'sleep 1', 'echo end'] });
      await waitFor(() => fake.log(run.id).includes('start'), 10_000, 'the run to start');
      runner.child.kill('SIGTERM');
      expect(await runner.exit).toBe(0);
      expect(fake.result(run.id)).toMatchObject({ status: 'finished', exitCode: 0 });
      expect(fake.log(run.id)).toBe('start\nend\n');
      const log = runner.stderr();
      expect(log).toMatch(new RegExp(`INFO  run started run=${run.id} `));
      expect(log).toMatch(new RegExp(`INFO  run ended run=${run.id} status=finished`));
      expect(log).toContain('received SIGTERM');
      expect(log).not.toContain(fake.runnerToken);
    });

    it('on a second signal cancels the run and reports it canceled', async () => {
      const runner = startCli(args());
      const run = fake.enqueue({ repo, script: ['echo start', 'sleep 30', 'echo end'] });
      await waitFor(() => fake.log(run.id).includes('start'), 10_000, 'the run to start');
      runner.child.kill('SIGINT');
      await waitFor(() => runner.stderr().includes('received SIGINT'), 5000, 'the first signal to land');
      runner.child.kill('SIGINT');
      expect(await runner.exit).toBe(0);
      expect(fake.result(run.id)).toMatchObject({ status: 'canceled' });
      expect(fake.log(run.id)).not.toContain('end');
    });

    it('stops with a clear message and a non-zero exit when deregistered', async () => {
      fake.deregistered = true;
      const runner = startCli(args());
      expect(await runner.exit).toBe(1);
      expect(runner.stderr()).toMatch(/ERROR runner was deregistered .*403 Forbidden/);
    });
  });

  it('unregister deregisters the runner and removes the config', async () => {
    const config = join(tempDir(), 'config.json');
    await saveConfig(config, { url: fake.url, runnerId: fake.runnerId, runnerToken: fake.runnerToken });
    const { code, stdout } = await runCli(['unregister', '--config', config]);
    expect(code).toBe(0);
    expect(stdout).toBe(`unregistered runner ${fake.runnerId}; removed ${config}\n`);
    const [request] = fake.requestsTo('/api/runner/registration');
    expect(request).toMatchObject({ method: 'DELETE', body: { id: fake.runnerId } });
    expect(request.headers.authorization).toBe(`Bearer ${fake.runnerToken}`);
    expect(existsSync(config)).toBe(false);
    expect(fake.deregistered).toBe(true);

    await saveConfig(config, { url: fake.url, runnerId: fake.runnerId, runnerToken: fake.runnerToken });
    const again = await runCli(['unregister', '--config', config]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: runner .* was already deregistered \(403 Forbidden\)/);
  });
});
