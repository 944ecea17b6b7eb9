/** Shared pieces of the runner specs: real git repositories, fast options, process checks. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../api-client';
import { baseEnvironment } from '../config';
import { Transport } from '../http';
import type { JobOptions } from '../job';
import { createLogger, type Logger } from '../logger';
import type { RetryPolicy } from '../retry';
import type { FakeOrchestrator } from './fake-orchestrator';

/** Retries fast: specs exercise outages without waiting for real backoff. */
export const FAST_RETRY: RetryPolicy = { baseMs: 10, maxMs: 50, maxAttempts: Infinity };

const made: string[] = [];

export function tempDir(prefix = 'pulse-spec-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every temp dir made so far (afterAll). */
export function cleanTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A real git repository with one commit holding `files`. */
export function makeGitRepo(files: Record<string, string> = { 'README.md': 'hello from the repo\n' }): string {
  const dir = tempDir('pulse-repo-');
  const git = (...args: string[]): void => {
    execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', '-c', 'init.defaultBranch=main', ...args], { cwd: dir, stdio: 'ignore' });
  };
  git('init', '--quiet');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  git('add', '.');
  git('commit', '--quiet', '-m', 'initial');
  return dir;
}

export function jobOptions(overrides: Partial<JobOptions> = {}): JobOptions {
  return {
    workDir: tempDir('pulse-work-'),
    allowLocalRepos: true,
    killGraceMs: 500,
    baseEnv: baseEnvironment(process.env),
    gitEnv: {},
    flushIntervalMs: 100,
    chunkBytes: 64 * 1024,
    pollMs: 20,
    retry: FAST_RETRY,
    ...overrides,
  };
}

export function clientFor(fake: FakeOrchestrator, transport = new Transport({ userAgent: 'pulse-runner-spec' })): ApiClient {
  return new ApiClient(fake.url, transport, { token: fake.runnerToken, timeoutMs: 5000 });
}

/** A logger that keeps its lines (to assert on the runner's own log). */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger('debug', (line) => lines.push(line)), lines };
}

/** True while `pid` exists and is not a zombie (an orphan nobody reaped is as good as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The number after `name=` in a log, e.g. a pid a script printed. */
export function numberAfter(log: string, name: string): number {
  const match = new RegExp(`${name}=(\\d+)`).exec(log);
  if (!match) throw new Error(`no ${name}= in log: ${log.slice(0, 500)}`);
  return Number(match[1]);
}
