/* eslint-disable @typescript-eslint/no-explicit-any -- a bench harness: untyped JSON bodies, IPC messages and autocannon's untyped API */
import { ChildProcess, fork } from 'node:child_process';
import { resolve } from 'node:path';

const WORKER = resolve(__dirname, '..', 'load-worker.js');

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
}

/** Forked load processes (dist/bench/load-worker.js), each running tasks sent over IPC. */
export class LoadPool {
  readonly children: ChildProcess[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly progressWaiters: Array<{ what: string; need: number; seen: number; done: () => void }> = [];
  private readonly ids = { next: 1 };
  /** A view uses only the first `limit` processes. */
  private limit = Infinity;

  private constructor() {}

  static async start(size: number): Promise<LoadPool> {
    const pool = new LoadPool();
    await pool.grow(size);
    return pool;
  }

  /** Forks processes until there are `size`. */
  async grow(size: number): Promise<void> {
    const more = Math.max(0, size - this.children.length);
    await Promise.all(Array.from({ length: more }, () => this.spawn()));
  }

  /**
   * The same pool restricted to its first `size` processes (grown if needed), so scenarios share
   * the load processes (fork and module loading cost once per bench, not once per scenario).
   */
  async view(size: number): Promise<LoadPool> {
    await this.grow(size);
    const v = Object.create(this) as LoadPool;
    v.limit = size;
    return v;
  }

  get size(): number {
    return Math.min(this.limit, this.children.length);
  }

  private get active(): ChildProcess[] {
    return this.children.slice(0, this.size);
  }

  get pids(): number[] {
    return this.active.map((c) => c.pid as number);
  }

  private spawn(): Promise<void> {
    const child = fork(WORKER, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.children.push(child);
    return new Promise((ready, fail) => {
      child.once('error', fail);
      child.on('exit', (code) => {
        for (const [id, p] of this.pending) {
          p.reject(new Error(`load process ${child.pid} exited with ${code}`));
          this.pending.delete(id);
        }
      });
      child.on('message', (msg: any) => {
        if (msg.type === 'hello') ready();
        else if (msg.type === 'result') {
          const p = this.pending.get(msg.id);
          if (!p) return;
          this.pending.delete(msg.id);
          if (msg.error) p.reject(new Error(`load task failed: ${msg.error}`));
          else p.resolve(msg.result);
        } else if (msg.type === 'progress') {
          for (const w of this.progressWaiters) {
            if (w.what === msg.what && ++w.seen === w.need) w.done();
          }
        }
      });
    });
  }

  /** Runs a task on load process `i`. */
  run<T = any>(i: number, task: string, args: Record<string, unknown>): Promise<T> {
    const id = this.ids.next++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.children[i].send({ type: 'task', id, task, args });
    });
  }

  /** Runs the same task on every process, with per-process arguments. */
  all<T = any>(task: string, argsFor: (i: number) => Record<string, unknown>): Promise<T[]> {
    return Promise.all(this.active.map((_, i) => this.run<T>(i, task, argsFor(i))));
  }

  /** Resolves once `need` processes reported the progress event `what`. */
  progress(what: string, need = this.size): Promise<void> {
    return new Promise((done) => this.progressWaiters.push({ what, need, seen: 0, done }));
  }

  /** Tells every process to stop its open-ended tasks (long polls, listeners, queue workers). */
  stopTasks(): void {
    for (const c of this.children) c.send({ type: 'stop' });
  }

  reset(): void {
    for (const c of this.children) c.send({ type: 'reset' });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((done) => {
            if (c.exitCode !== null || c.signalCode !== null) return done();
            c.once('exit', () => done());
            c.disconnect();
            setTimeout(() => c.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
  }
}
