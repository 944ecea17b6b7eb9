import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** The PostgreSQL server the bench runs on: BENCH_DATABASE_URL, else the local one. */
export function serverUrl(): string {
  return process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || 'postgresql://postgres@127.0.0.1:5432/postgres';
}

export function databaseUrl(name: string): string {
  const url = new URL(serverUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

export async function withClient<T>(url: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh database for one scenario, dropped (with FORCE) when the scenario is done. */
export async function createDatabase(label: string): Promise<BenchDatabase> {
  const name = `pulse_bench_${label}_${process.pid}_${randomBytes(3).toString('hex')}`.toLowerCase();
  await withClient(serverUrl(), (c) => c.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: databaseUrl(name),
    drop: () => withClient(serverUrl(), (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/** Facts about the server for the report. */
export async function serverFacts(): Promise<Record<string, string>> {
  return withClient(serverUrl(), async (c) => {
    const out: Record<string, string> = {};
    out.version = (await c.query('SHOW server_version')).rows[0].server_version as string;
    for (const name of ['max_connections', 'shared_buffers', 'synchronous_commit', 'fsync', 'work_mem']) {
      out[name] = (await c.query(`SHOW ${name}`)).rows[0][name] as string;
    }
    return out;
  });
}
