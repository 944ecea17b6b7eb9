import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDesiredList, type DesiredInstance } from '../api-client';
import { capturingLogger } from '../test-support/helpers';
import { Engine } from './engine';
import { InstanceKeeper, instanceContainerName, publishedPorts } from './instances';

/**
 * A small Docker Engine API on a Unix socket, in memory: containers that are created, started,
 * stopped, exit (crash() makes one exit on its own), and are waited on, listed and removed. Only
 * the endpoints and fields the keeper uses.
 */
interface FakeContainer {
  Id: string;
  name: string;
  labels: Record<string, string>;
  running: boolean;
  exitCode: number;
  startedAt: number;
  ports: Record<string, Array<{ HostPort: string }>>;
  waiters: Array<(code: number) => void>;
}

async function memoryEngine(): Promise<{
  engine: Engine;
  containers: Map<string, FakeContainer>;
  calls: string[];
  crash(id: string, code: number): void;
  /** The next `start` of any container exits at once with this code (a command that fails). */
  failStarts: { code?: number };
  close(): Promise<void>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-memory-engine-'));
  const socketPath = join(dir, 'engine.sock');
  const containers = new Map<string, FakeContainer>();
  const calls: string[] = [];
  const failStarts: { code?: number } = {};
  let next = 1;
  let hostPort = 40000;
  const find = (ref: string): FakeContainer | undefined => containers.get(ref) ?? [...containers.values()].find((c) => c.name === ref);
  const exit = (c: FakeContainer, code: number): void => {
    c.running = false;
    c.exitCode = code;
    for (const w of c.waiters.splice(0)) w(code);
  };
  const json = (res: http.ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://engine');
      const path = url.pathname.replace(/^\/v1\.40/, '');
      calls.push(`${req.method} ${path}`);
      let m: RegExpExecArray | null;
      if (req.method === 'GET' && /^\/images\/.+\/json$/.test(path)) {
        if (decodeURIComponent(path).includes('absent')) return json(res, 404, { message: 'no such image' });
        return json(res, 200, { Id: 'sha256:1', Config: {} });
      }
      if (req.method === 'POST' && path === '/containers/create') {
        const name = url.searchParams.get('name') ?? '';
        if (find(name)) return json(res, 409, { message: `the container name "${name}" is already in use` });
        const body = JSON.parse(text) as { Labels: Record<string, string>; HostConfig?: { PortBindings?: Record<string, Array<{ HostPort: string }>> } };
        const ports: FakeContainer['ports'] = {};
        for (const [key, list] of Object.entries(body.HostConfig?.PortBindings ?? {})) ports[key] = list.map((b) => ({ HostPort: b.HostPort || String(hostPort++) }));
        const c: FakeContainer = { Id: `c${next++}`, name, labels: body.Labels, running: false, exitCode: 0, startedAt: 0, ports, waiters: [] };
        containers.set(c.Id, c);
        return json(res, 201, { Id: c.Id });
      }
      if (req.method === 'GET' && path === '/containers/json') {
        const wanted = (JSON.parse(url.searchParams.get('filters') ?? '{}') as { label?: string[] }).label ?? [];
        const list = [...containers.values()].filter((c) => wanted.every((l) => c.labels[l.split('=')[0]] === l.split('=')[1]));
        return json(res, 200, list.map((c) => ({ Id: c.Id, Names: [`/${c.name}`], Labels: c.labels, State: c.running ? 'running' : 'exited', Created: 0 })));
      }
      if ((m = /^\/containers\/([^/]+)(\/\w+)?$/.exec(path))) {
        const c = find(decodeURIComponent(m[1]));
        if (!c) return json(res, 404, { message: 'no such container' });
        switch (`${req.method} ${m[2] ?? ''}`) {
          case 'GET /json':
            return json(res, 200, {
              Id: c.Id,
              Name: `/${c.name}`,
              State: { Status: c.running ? 'running' : 'exited', Running: c.running, OOMKilled: false, ExitCode: c.exitCode, StartedAt: String(c.startedAt) },
              Config: { Labels: c.labels },
              NetworkSettings: { Ports: c.running ? c.ports : {} },
            });
          case 'POST /start':
            if (c.running) return json(res, 304, {});
            c.running = true;
            c.startedAt++;
            if (failStarts.code !== undefined) exit(c, failStarts.code);
            res.writeHead(204).end();
            return;
          case 'POST /stop':
            if (!c.running) return json(res, 304, {});
            exit(c, 143);
            res.writeHead(204).end();
            return;
          case 'POST /wait':
            if (!c.running) return json(res, 200, { StatusCode: c.exitCode });
            c.waiters.push((code) => json(res, 200, { StatusCode: code }));
            return;
          case 'DELETE ':
            exit(c, 137);
            containers.delete(c.Id);
            res.writeHead(204).end();
            return;
        }
      }
      json(res, 500, { message: `unexpected ${req.method} ${path}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    engine: new Engine({ socketPath }, { timeoutMs: 5000 }),
    containers,
    calls,
    failStarts,
    crash: (id, code) => exit(containers.get(id) as FakeContainer, code),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}

const ID_A = '6f1c9a52-0d3e-4b7a-9a11-2f3c4d5e6f70';
const ID_B = '7a2d0b63-1e4f-4c8b-8b22-3a4d5e6f7081';

function desired(id: string, over: Partial<DesiredInstance> = {}): DesiredInstance {
  return { id, name: `i-${id.slice(0, 4)}`, uri: 'busybox', environment: ['A=1'], resources: { cpu: 0, memory: 0, disk: 0 }, ports: ['8080'], state: 'RUNNING', generation: 0, ...over };
}

async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('InstanceKeeper against an engine', () => {
  let mem: Awaited<ReturnType<typeof memoryEngine>>;
  const keepers: InstanceKeeper[] = [];
  const keeper = (runnerId = 'runner-1', restartDelayMs = 20, now?: () => number): InstanceKeeper => {
    const k = new InstanceKeeper({ engine: mem.engine, runnerId, pullPolicy: 'never', address: '10.0.0.5', logger: capturingLogger().logger, restartDelayMs, now });
    keepers.push(k);
    return k;
  };
  const statusOf = async (k: InstanceKeeper, id: string) => (await k.reports())?.find((r) => r.id === id);
  const waitStatus = (k: InstanceKeeper, id: string, status: string) =>
    until(() => k.snapshot().find((s) => s.id === id && s.status === status), `${id} ${status}`);

  beforeEach(async () => {
    mem = await memoryEngine();
  });
  afterEach(async () => {
    for (const k of keepers.splice(0)) k.close();
    await mem.close();
  });

  it('reports nothing before adoption, then starts what the list wants, labelled and with ports published on its address', async () => {
    const k = keeper();
    let changes = 0;
    k.onChange(() => changes++);
    k.reconcile([desired(ID_A)]); // before adoption: ignored (and not reported)
    expect(mem.containers.size).toBe(0);
    expect(await k.reports()).toEqual([]);
    k.reconcile([desired(ID_A)]);
    await waitStatus(k, ID_A, 'RUNNING');
    const [c] = mem.containers.values();
    expect(c.name).toBe(instanceContainerName(ID_A));
    expect(c.labels).toEqual({ 'pulse.runner': 'runner-1', 'pulse.instance': ID_A, 'pulse.generation': '0', 'pulse.name': 'i-6f1c' });
    expect(await statusOf(k, ID_A)).toMatchObject({ status: 'RUNNING', ip: '10.0.0.5', ports: ['40000:8080'], restarts: 0, generation: 0 });
    expect(changes).toBeGreaterThanOrEqual(2); // STARTING, RUNNING
  });

  it('converging again on the same list calls the engine no more', async () => {
    const k = keeper();
    await k.reports();
    k.reconcile([desired(ID_A)]);
    await waitStatus(k, ID_A, 'RUNNING');
    const calls = mem.calls.filter((c) => !c.endsWith('/wait')).length;
    for (let i = 0; i < 5; i++) k.reconcile([desired(ID_A)]);
    await new Promise((r) => setTimeout(r, 50));
    expect(mem.calls.filter((c) => !c.endsWith('/wait')).length).toBe(calls);
  });

  it('stops (keeping the container), starts again, and removes what the list leaves out', async () => {
    const k = keeper();
    await k.reports();
    k.reconcile([desired(ID_A), desired(ID_B, { ports: ['9000:80'] })]);
    await waitStatus(k, ID_A, 'RUNNING');
    await waitStatus(k, ID_B, 'RUNNING');
    expect((await statusOf(k, ID_B))?.ports).toEqual(['9000:80']);
    k.reconcile([desired(ID_A, { state: 'STOPPED' }), desired(ID_B)]);
    await waitStatus(k, ID_A, 'STOPPED');
    const a = [...mem.containers.values()].find((c) => c.labels['pulse.instance'] === ID_A);
    expect(a?.running).toBe(false);
    expect((await statusOf(k, ID_A))?.ports).toEqual([]);
    k.reconcile([desired(ID_A)]);
    await waitStatus(k, ID_A, 'RUNNING');
    expect([...mem.containers.values()].find((c) => c.labels['pulse.instance'] === ID_A)?.Id).toBe(a?.Id); // the same container
    k.reconcile([desired(ID_A)]); // B left out: removed, no longer reported
    await until(() => !k.snapshot().some((s) => s.id === ID_B), 'B removed');
    expect([...mem.containers.values()].map((c) => c.labels['pulse.instance'])).toEqual([ID_A]);
    expect((await k.reports())?.map((r) => r.id)).toEqual([ID_A]);
  });

  it('restarts a crashed container after the delay at most twice in 30 minutes; the third crash is FAILED', async () => {
    let clock = 1_000_000;
    const k = keeper('runner-1', 30, () => clock);
    await k.reports();
    k.reconcile([desired(ID_A)]);
    await waitStatus(k, ID_A, 'RUNNING');
    const id = [...mem.containers.keys()][0];
    for (let crash = 1; crash <= 2; crash++) {
      mem.crash(id, 3);
      await waitStatus(k, ID_A, 'CRASHED');
      expect((await statusOf(k, ID_A))?.description).toMatch(new RegExp(`exited with code 3; restarting in 0 s \\(restart ${crash} of 2`));
      await waitStatus(k, ID_A, 'RUNNING');
      expect((await statusOf(k, ID_A))?.restarts).toBe(crash);
    }
    mem.crash(id, 3);
    await waitStatus(k, ID_A, 'FAILED');
    expect(await statusOf(k, ID_A)).toMatchObject({ restarts: 2, description: expect.stringMatching(/crashed 3 times in 30 minutes/) });
    await new Promise((r) => setTimeout(r, 100));
    expect(k.snapshot()[0].status).toBe('FAILED'); // not restarted again

    // A retry is a new generation: a new container, restarts from 0.
    k.reconcile([desired(ID_A, { generation: 1 })]);
    await waitStatus(k, ID_A, 'RUNNING');
    const [fresh] = mem.containers.values();
    expect(fresh.Id).not.toBe(id);
    expect(fresh.labels['pulse.generation']).toBe('1');
    expect(await statusOf(k, ID_A)).toMatchObject({ restarts: 0, generation: 1 });

    // Crashes spread over more than 30 minutes never reach FAILED.
    for (let crash = 0; crash < 4; crash++) {
      mem.crash(fresh.Id, 1);
      await waitStatus(k, ID_A, 'CRASHED');
      await waitStatus(k, ID_A, 'RUNNING');
      clock += 31 * 60_000;
    }
    expect((await statusOf(k, ID_A))?.restarts).toBe(4);
  });

  it('a container stopped by the runner is not a crash', async () => {
    const k = keeper();
    await k.reports();
    k.reconcile([desired(ID_A)]);
    await waitStatus(k, ID_A, 'RUNNING');
    k.reconcile([desired(ID_A, { state: 'STOPPED' })]);
    await waitStatus(k, ID_A, 'STOPPED');
    await new Promise((r) => setTimeout(r, 80)); // past the restart delay
    expect(k.snapshot()[0].status).toBe('STOPPED');
  });

  it('a command that exits at once crashes like any other; an image the engine lacks is FAILED with the reason', async () => {
    const k = keeper('runner-1', 10);
    await k.reports();
    mem.failStarts.code = 2;
    k.reconcile([desired(ID_A), desired(ID_B, { uri: 'localhost/absent:1' })]);
    await waitStatus(k, ID_A, 'FAILED');
    expect((await statusOf(k, ID_A))?.restarts).toBe(2);
    await waitStatus(k, ID_B, 'FAILED');
    expect((await statusOf(k, ID_B))?.description).toBe('image localhost/absent:1 is not present on the engine and the pull policy is "never"');
  });

  it('adopts its running containers after a restart without restarting them, and removes stale ones the list leaves out', async () => {
    const first = keeper();
    await first.reports();
    first.reconcile([desired(ID_A), desired(ID_B)]);
    await waitStatus(first, ID_A, 'RUNNING');
    await waitStatus(first, ID_B, 'RUNNING');
    first.close(); // the runner process is gone (kill -9): the containers stay
    const startedAt = [...mem.containers.values()].map((c) => c.startedAt);

    const second = keeper();
    const reports = await second.reports();
    expect(reports?.map((r) => [r.id, r.status, r.ports]).sort()).toEqual([
      [ID_A, 'RUNNING', ['40000:8080']],
      [ID_B, 'RUNNING', ['40001:8080']],
    ]);
    // B was placed elsewhere meanwhile: the list leaves it out, so this runner removes its copy.
    second.reconcile([desired(ID_A)]);
    await until(() => mem.containers.size === 1, 'the stale copy removed');
    expect([...mem.containers.values()][0].labels['pulse.instance']).toBe(ID_A);
    expect([...mem.containers.values()][0].startedAt).toBe(startedAt[0]); // never restarted
    // A crash of an adopted container is seen too.
    mem.crash([...mem.containers.keys()][0], 9);
    await waitStatus(second, ID_A, 'CRASHED');
  });

  it('never touches another runner’s containers, even one with the instance’s own name', async () => {
    const other = keeper('runner-2');
    await other.reports();
    other.reconcile([desired(ID_A)]);
    await waitStatus(other, ID_A, 'RUNNING');

    const mine = keeper('runner-1');
    expect(await mine.reports()).toEqual([]); // not adopted: not its label
    mine.reconcile([desired(ID_A)]);
    const waiting = await until(async () => {
      const r = await statusOf(mine, ID_A);
      return r?.status === 'STARTING' && /belongs to runner/.test(r.description ?? '') && r;
    }, 'the name taken');
    expect(waiting.description).toBe(`waiting: container ${instanceContainerName(ID_A)} belongs to runner runner-2`);
    mine.reconcile([]); // left out: removal never touches runner-2's container
    await until(() => mine.snapshot().length === 0, 'dropped');
    expect([...mem.containers.values()].map((c) => [c.labels['pulse.runner'], c.running])).toEqual([['runner-2', true]]);
  });
});

describe('parseDesiredList', () => {
  it('reads a whole list and rejects it whole when one entry is wrong', () => {
    const ok = parseDesiredList([{ ...desired(ID_A), command: ['httpd', '-f'], extra: 1 }]);
    expect(ok).toEqual([{ ...desired(ID_A), command: ['httpd', '-f'] }]);
    expect(parseDesiredList([desired(ID_A), { ...desired(ID_B), ports: ['http'] }])).toBe('instances[1].ports must be strings like "8080" or "9000:8080"');
    expect(parseDesiredList([{ ...desired(ID_A), state: 'PAUSED' }])).toBe('instances[0].state must be RUNNING or STOPPED');
    expect(parseDesiredList([{ ...desired(ID_A), id: '' }])).toBe('instances[0].id is missing or not a string');
    expect(parseDesiredList({})).toBe('instances is not an array');
  });
});

describe('publishedPorts', () => {
  it('reads "host:container" from the bindings, skipping unbound ones', () => {
    const info = {
      Id: 'x',
      Name: '/x',
      State: { Status: 'running', Running: true, OOMKilled: false, ExitCode: 0 },
      Config: {},
      NetworkSettings: { Ports: { '8080/tcp': [{ HostIp: '0.0.0.0', HostPort: '32768' }, { HostIp: '::', HostPort: '32768' }], '9090/tcp': null } },
    };
    expect(publishedPorts(info)).toEqual(['32768:8080']);
  });
});
