import { ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import request from 'supertest';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const REGISTRATION_TOKEN = 'test-registration-token-0123456789';
const MAIN = resolve(__dirname, '../../dist/src/main.js');

export type DatabaseKind = 'embedded' | 'postgres';

/** Which database this Jest project runs on (set by test/support/use-*.ts). */
export function databaseKind(): DatabaseKind {
  return process.env.PULSE_TEST_DATABASE === 'postgres' ? 'postgres' : 'embedded';
}

export function testDatabaseUrl(): string {
  return process.env.TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';
}

/** A fresh database for one test file, on the real PostgreSQL. */
export async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `pulse_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: testDatabaseUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(testDatabaseUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new Client({ connectionString: testDatabaseUrl() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface PulseProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** SIGKILL: no shutdown hooks at all. */
  kill9(): Promise<void>;
}

/** Starts `node dist/src/main.js` and resolves once it listens. */
export function spawnPulse(env: Record<string, string>): Promise<PulseProcess> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return new Promise((ready, fail) => {
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const m = /pulse: listening on (https?:\/\/[^\s]+?:\d+)/.exec(out);
      if (m) {
        child.stdout?.off('data', onData);
        child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
        ready({
          url: m[1].replace('localhost', '127.0.0.1'),
          child,
          output: () => out,
          async stop() {
            if (child.exitCode === null) child.kill('SIGTERM');
            return exited;
          },
          async kill9() {
            if (child.exitCode === null) child.kill('SIGKILL');
            await exited;
          },
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    void exited.then((code) => fail(new Error(`pulse exited with ${code} before listening:\n${out}`)));
  });
}

export interface TestPulse {
  url: string;
  kind: DatabaseKind;
  databaseUrl: string | undefined;
  dataDir: string;
  proc: PulseProcess;
  env: Record<string, string>;
  /** supertest agent pointed at the app. */
  http: ReturnType<typeof request>;
  admin: { Authorization: string };
  /**
   * Stops the process and starts it again on the same database: SIGTERM by default, or
   * `{ hard: true }` for `kill -9` (no shutdown hooks at all), optionally waiting `downMs` before
   * the new process starts (an outage longer than some timeout).
   */
  restart(extraEnv?: Record<string, string>, how?: { hard?: boolean; downMs?: number }): Promise<void>;
  /** A second orchestrator process on the same database (PostgreSQL only). */
  spawnAnother(extraEnv?: Record<string, string>): Promise<PulseProcess>;
  /** This test's view of another process on the same database: same tokens, its own `http`. */
  via(proc: PulseProcess): TestPulse;
  close(): Promise<void>;
}

/**
 * One orchestrator for a test file: its own database (a fresh PostgreSQL database, or an
 * embedded one in a temp DATA_DIR), fast sweeps, fixed tokens.
 */
export async function startPulse(extraEnv: Record<string, string> = {}): Promise<TestPulse> {
  const kind = databaseKind();
  const dataDir = mkdtempSync(join(tmpdir(), 'pulse-test-'));
  const template = process.env.PULSE_EMBEDDED_TEMPLATE;
  if (kind === 'embedded' && template && existsSync(template)) {
    // A copy of a migrated database made once per run (embedded-template.js): no cold initdb.
    cpSync(template, join(dataDir, 'pgdata'), { recursive: true });
  }
  const db = kind === 'postgres' ? await createDatabase() : undefined;
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: '0',
    DATA_DIR: dataDir,
    ADMIN_TOKEN,
    RUNNER_REGISTRATION_TOKEN: REGISTRATION_TOKEN,
    LOG_LEVEL: 'warn',
    SWEEP_INTERVAL: '0.2',
    RUNNER_RATE_LIMIT: '100000',
    ...(db && { DATABASE_URL: db.url }),
    ...extraEnv,
  };
  const others: PulseProcess[] = [];
  const t: TestPulse = {
    url: '',
    kind,
    databaseUrl: db?.url,
    dataDir,
    env,
    proc: await spawnPulse(env),
    http: undefined as unknown as ReturnType<typeof request>,
    admin: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    async restart(more = {}, how = {}) {
      await (how.hard ? t.proc.kill9() : t.proc.stop());
      if (how.downMs) await new Promise((r) => setTimeout(r, how.downMs));
      Object.assign(env, more);
      t.proc = await spawnPulse(env);
      t.url = t.proc.url;
      t.http = request(t.url);
    },
    async spawnAnother(more = {}) {
      const p = await spawnPulse({ ...env, ...more });
      others.push(p);
      return p;
    },
    via(proc) {
      return { ...t, url: proc.url, proc, http: request(proc.url) };
    },
    async close() {
      await Promise.all([t.proc.stop(), ...others.map((o) => o.stop())]);
      await db?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  t.url = t.proc.url;
  t.http = request(t.url);
  return t;
}

/** Polls `check` until it returns a truthy value (no fixed sleeps in tests). */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 20000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
