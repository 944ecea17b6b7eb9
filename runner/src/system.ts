/**
 * Facts about the host, reported at registration and in heartbeats so that dispatch can match
 * runs to runners (resources) and admins can see what a runner is (framework, system).
 *
 * Units: `resources` and `usage` are cores, MiB and MiB (SPEC section 2, seed 002);
 * `system.ram.total` is MiB too, `system.cpu.baseClock` is MHz as the OS reports it.
 */
import { readFileSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import type { Framework, Resources, SystemFacts } from './api-client';

const MIB = 1024 * 1024;

/** The runner's own version, from its package.json (dist/ and src/ both sit beside it). */
export const RUNNER_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
})();

export function systemFacts(): SystemFacts {
  const cpus = os.cpus();
  return {
    // A CI executor: the jobs it runs are CI jobs.
    ci: true,
    os: { description: osDescription(), platform: process.platform, version: os.release() },
    cpu: { baseClock: cpus[0]?.speed ?? 0, logicalCores: os.availableParallelism(), model: cpus[0]?.model?.trim() ?? 'unknown' },
    ram: { total: Math.floor(os.totalmem() / MIB) },
  };
}

/** The framework object: this runner executes shell scripts. */
export function shellFramework(): Framework {
  return { name: 'shell', version: RUNNER_VERSION, system: systemFacts() };
}

/** Capacity: all logical cores, all memory, the free space where workspaces are made. */
export async function detectResources(workDir: string, overrides: Partial<Resources> = {}): Promise<Resources> {
  return {
    cpu: overrides.cpu ?? os.availableParallelism(),
    memory: overrides.memory ?? Math.floor(os.totalmem() / MIB),
    disk: overrides.disk ?? (await freeDiskMiB(workDir)),
  };
}

/** Current use: load average as busy cores, used memory, used disk of the work dir's file system. */
export async function currentUsage(workDir: string): Promise<Resources> {
  let disk = 0;
  try {
    const stats = await fs.statfs(workDir);
    disk = Math.floor(((stats.blocks - stats.bfree) * stats.bsize) / MIB);
  } catch {
    // statfs can fail on exotic mounts; usage is informative only.
  }
  return {
    cpu: Math.round(os.loadavg()[0]),
    memory: Math.floor((os.totalmem() - os.freemem()) / MIB),
    disk,
  };
}

async function freeDiskMiB(dir: string): Promise<number> {
  try {
    const stats = await fs.statfs(dir);
    return Math.floor((stats.bavail * stats.bsize) / MIB);
  } catch {
    return 0;
  }
}

/** "Debian GNU/Linux 12 (bookworm)" from os-release when there is one, else the kernel's name. */
function osDescription(): string {
  if (process.platform === 'linux') {
    for (const file of ['/etc/os-release', '/usr/lib/os-release']) {
      try {
        const match = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync(file, 'utf8'));
        if (match) return match[1];
      } catch {
        // try the next one
      }
    }
  }
  return `${os.type()} ${os.release()}`;
}
