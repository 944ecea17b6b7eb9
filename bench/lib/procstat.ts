import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcSample {
  at: number;
  /** utime + stime in seconds. */
  cpuSeconds: number;
  rssBytes: number;
  hwmBytes: number;
}

/** One reading of /proc/<pid>/stat and /proc/<pid>/status. Undefined once the process is gone. */
export function sampleProcess(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) * 1024 : 0;
    };
    return { at: Date.now(), cpuSeconds: (utime + stime) / TICKS_PER_SECOND, rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

export interface ProcWindow {
  /** CPU used over the window, in percent of one core. */
  cpuPercent: number;
  rssMeanBytes: number;
  rssMaxBytes: number;
  hwmBytes: number;
  seconds: number;
}

/** Samples a process every `everyMs` between start() and stop(). */
export class ProcMonitor {
  private samples: ProcSample[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pids: number[],
    private readonly everyMs = 250,
  ) {}

  start(): this {
    this.samples = [];
    this.take();
    this.timer = setInterval(() => this.take(), this.everyMs);
    return this;
  }

  private take(): void {
    const all = this.pids.map(sampleProcess);
    if (all.some((s) => s === undefined)) return;
    const s = all as ProcSample[];
    this.samples.push({
      at: Date.now(),
      cpuSeconds: s.reduce((a, b) => a + b.cpuSeconds, 0),
      rssBytes: s.reduce((a, b) => a + b.rssBytes, 0),
      hwmBytes: s.reduce((a, b) => a + b.hwmBytes, 0),
    });
  }

  stop(): ProcWindow {
    if (this.timer) clearInterval(this.timer);
    this.take();
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at === first.at) {
      return { cpuPercent: NaN, rssMeanBytes: NaN, rssMaxBytes: NaN, hwmBytes: NaN, seconds: 0 };
    }
    const seconds = (last.at - first.at) / 1000;
    return {
      cpuPercent: ((last.cpuSeconds - first.cpuSeconds) / seconds) * 100,
      rssMeanBytes: this.samples.reduce((a, b) => a + b.rssBytes, 0) / this.samples.length,
      rssMaxBytes: Math.max(...this.samples.map((x) => x.rssBytes)),
      hwmBytes: last.hwmBytes,
      seconds,
    };
  }
}

/** CPU seconds of every process whose command name is `comm` (e.g. all PostgreSQL backends). */
function cpuByComm(comm: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== comm) continue;
      const s = sampleProcess(Number(entry));
      if (s) out.set(Number(entry), s.cpuSeconds);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function cpuOf(pids: number[]): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const s = sampleProcess(pid);
    if (s) out.set(pid, s.cpuSeconds);
  }
  return out;
}

/** Busy and total jiffies of the whole machine (/proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

export interface CpuShares {
  seconds: number;
  /** Percent of one core, per group; `machine` is every core's busy time together. */
  orchestrator: number;
  postgres: number;
  load: number;
  machine: number;
  cores: number;
}

/**
 * Where the CPU went during a measurement: the server(s) under test, PostgreSQL (every backend),
 * the load processes, and the whole machine (the rest is other work on the machine).
 */
export class CpuBreakdown {
  private t0 = 0;
  private server = new Map<number, number>();
  private pg = new Map<number, number>();
  private load = new Map<number, number>();
  private machine = { busy: 0, total: 0 };

  constructor(
    private readonly serverPids: number[],
    private readonly loadPids: number[],
  ) {}

  start(): this {
    this.t0 = Date.now();
    this.server = cpuOf(this.serverPids);
    this.load = cpuOf(this.loadPids);
    this.pg = cpuByComm('postgres');
    this.machine = machineTicks();
    return this;
  }

  stop(): CpuShares {
    const seconds = (Date.now() - this.t0) / 1000;
    const delta = (before: Map<number, number>, after: Map<number, number>): number => {
      let sum = 0;
      for (const [pid, cpu] of after) sum += cpu - (before.get(pid) ?? 0);
      return sum;
    };
    const m = machineTicks();
    const cores = cpus().length;
    const pct = (cpuSeconds: number): number => (seconds > 0 ? (cpuSeconds / seconds) * 100 : NaN);
    return {
      seconds,
      orchestrator: pct(delta(this.server, cpuOf(this.serverPids))),
      postgres: pct(delta(this.pg, cpuByComm('postgres'))),
      load: pct(delta(this.load, cpuOf(this.loadPids))),
      machine: m.total > this.machine.total ? ((m.busy - this.machine.busy) / (m.total - this.machine.total)) * 100 * cores : NaN,
      cores,
    };
  }
}
