import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const ADMIN_TOKEN = 'bench-admin-token-0123456789';
export const REGISTRATION_TOKEN = 'bench-registration-token-0123456789';

/** dist/bench/lib -> dist/ */
const DIST = resolve(__dirname, '..', '..');
export const ORCHESTRATOR_MAIN = resolve(DIST, 'src', 'main.js');
export const BARE_APP_MAIN = resolve(DIST, 'bench', 'bare-app.js');

export interface ServerProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  output(): string;
  stop(): Promise<number | null>;
}

export interface SpawnOptions {
  /** Write a V8 CPU profile of the process into this directory (node --cpu-prof). */
  cpuProfDir?: string;
  cpuProfName?: string;
  /** A command the process runs under, e.g. ['valgrind', '--tool=callgrind']: it is given `node` and its arguments. */
  wrapper?: string[];
  nodeArgs?: string[];
  cwd?: string;
}

/** Starts a server script (the orchestrator or the bare app) and resolves once it listens. */
export function spawnServer(main: string, env: Record<string, string>, options: SpawnOptions = {}): Promise<ServerProcess> {
  const nodeArgs: string[] = [...(options.nodeArgs ?? [])];
  if (options.cpuProfDir) {
    mkdirSync(options.cpuProfDir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`);
    if (options.cpuProfName) nodeArgs.push(`--cpu-prof-name=${options.cpuProfName}`);
  }
  const [command, ...args] = [...(options.wrapper ?? []), process.execPath, ...nodeArgs, main];
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const spawnedAt = Date.now();
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  child.stderr?.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-20000)));
  return new Promise((ready, fail) => {
    let listening = false;
    child.stdout?.on('data', (chunk: Buffer) => {
      out = (out + chunk.toString()).slice(-20000);
      if (listening) return;
      const m = /pulse: listening on (https?:\/\/[^\s]+?:\d+)/.exec(out);
      if (!m) return;
      listening = true;
      if (options.cpuProfDir && options.cpuProfName) {
        // The summary skips start-up (module loading, migrations): only serving counts.
        writeFileSync(`${options.cpuProfDir}/${options.cpuProfName}.startup.json`, JSON.stringify({ startupMs: Date.now() - spawnedAt }));
      }
      ready({
        url: m[1].replace('localhost', '127.0.0.1'),
        pid: child.pid as number,
        child,
        output: () => out,
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          const code = await exited;
          clearTimeout(timer);
          return code;
        },
      });
    });
    void exited.then((code) => {
      if (!listening) fail(new Error(`${main} exited with ${code} before listening:\n${out}`));
    });
  });
}

/** The orchestrator's environment for a bench: no rate limit in the way, quiet logs. */
export function orchestratorEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: databaseUrl,
    ADMIN_TOKEN,
    RUNNER_REGISTRATION_TOKEN: REGISTRATION_TOKEN,
    HEARTBEAT_INTERVAL: '10',
    LONG_POLL_MAX: '30',
    RUNNER_DEAD_AFTER: '120',
    RUNNER_RATE_LIMIT: '100000',
    LOG_MAX_BYTES: String(1024 * 1024 * 1024),
    LOG_LEVEL: 'warn',
    ...extra,
  };
}
