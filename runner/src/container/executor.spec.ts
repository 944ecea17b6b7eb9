import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from './engine';
import { COPY_ATTEMPTS, ContainerRun, PullLog, containerName, tarOf } from './executor';

describe('PullLog', () => {
  it('writes layer state changes once each, never byte counts, at most 20 lines', () => {
    const lines: string[] = [];
    const log = new PullLog((line) => lines.push(line));
    log.add({ status: 'Pulling from library/debian', id: '12' });
    for (let i = 0; i < 50; i++) log.add({ status: 'Downloading', id: 'aaa', progress: `[${'='.repeat(i % 10)}>]` });
    log.add({ status: 'Pulling fs layer', id: 'aaa' });
    log.add({ status: 'Pulling fs layer', id: 'aaa' });
    log.add({ status: 'Extracting', id: 'aaa', progress: '[==>]' });
    log.add({ status: 'Pull complete', id: 'aaa' });
    log.add({ status: 'Digest: sha256:abc' });
    expect(lines).toEqual(['pull: 12: Pulling from library/debian', 'pull: aaa: Pulling fs layer', 'pull: aaa: Pull complete', 'pull: Digest: sha256:abc']);

    const many: string[] = [];
    const big = new PullLog((line) => many.push(line));
    for (let i = 0; i < 30; i++) big.add({ status: 'Pull complete', id: `layer-${i}` });
    expect(many).toHaveLength(20);
    expect(big.omitted).toBe(10);
  });

  it('names containers pulse-run-<run id>-<attempt>', () => {
    expect(containerName('0b5c2a56-6f5e-4a38-9d59-3c1f0e7b1a2d', 2)).toBe('pulse-run-0b5c2a56-6f5e-4a38-9d59-3c1f0e7b1a2d-2');
  });
});

/** One multiplexed stdout frame of attach. */
function frame(text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = 1;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** True when the tar archive ends right after its two zero blocks (no record padding). */
function endsAtEndMarker(tar: Buffer): boolean {
  if (tar.length < 1536 || tar.length % 512 !== 0) return false;
  const zero = (b: Buffer): boolean => b.every((x) => x === 0);
  return zero(tar.subarray(tar.length - 1024)) && !zero(tar.subarray(tar.length - 1536, tar.length - 1024));
}

describe('tarOf', () => {
  it('ends the archive at its end marker, without padding that Podman would write into a closed pipe', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-tar-'));
    try {
      mkdirSync(join(dir, 'workspace'));
      writeFileSync(join(dir, 'workspace', 'README.md'), '# hello\n');
      const tar = await collect(tarOf(dir, ['workspace'], { uid: 0, gid: 0 }));
      expect(endsAtEndMarker(tar)).toBe(true);
      expect(tar.length).toBeLessThan(10240); // GNU tar's default record would pad to 10 KiB
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * ContainerRun against a fake engine on a real Unix socket that answers the archive upload
 * like Podman sometimes does under concurrent copies: a 500 "passing bulk input to subprocess:
 * write |1: broken pipe" (containers/buildah#6573), after which the run must still run and
 * keep its exit code.
 */
describe('ContainerRun copying the workspace in', () => {
  let dir: string;
  let server: http.Server;
  let socketPath: string;
  const archives: Buffer[] = [];
  let archiveFailures: Array<{ status: number; message: string }> = [];
  const requests: string[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pulse-container-run-'));
    socketPath = join(dir, 'engine.sock');
    mkdirSync(join(dir, 'context', 'workspace'), { recursive: true });
    mkdirSync(join(dir, 'context', '.pulse'));
    writeFileSync(join(dir, 'context', 'workspace', 'README.md'), '# hello\n');
    writeFileSync(join(dir, 'context', '.pulse', 'script.sh'), 'echo hello\n');
    archives.length = 0;
    requests.length = 0;
    const json = (res: http.ServerResponse, status: number, body: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const path = (req.url ?? '').replace(/\?.*$/, '');
        requests.push(`${req.method} ${path}`);
        if (req.method === 'GET' && path.endsWith('/json') && path.includes('/images/')) return json(res, 200, { Id: 'sha256:img', Config: {} });
        if (path === '/v1.40/containers/create') return json(res, 201, { Id: 'c1' });
        if (req.method === 'PUT' && path === '/v1.40/containers/c1/archive') {
          archives.push(Buffer.concat(parts));
          const failure = archiveFailures.shift();
          if (failure) return json(res, failure.status, { cause: 'broken pipe', message: failure.message, response: failure.status });
          return res.writeHead(200).end();
        }
        if (path === '/v1.40/containers/c1/start') return res.writeHead(204).end();
        if (path === '/v1.40/containers/c1/wait') return json(res, 200, { StatusCode: 3 });
        if (req.method === 'GET' && path === '/v1.40/containers/c1/json') {
          return json(res, 200, { Id: 'c1', Name: '/x', State: { Status: 'exited', Running: false, OOMKilled: false, ExitCode: 3 }, Config: {} });
        }
        if (req.method === 'DELETE') return res.writeHead(204).end();
        json(res, 500, { message: `unexpected ${req.method} ${path}` });
      });
    });
    server.on('upgrade', (_req: http.IncomingMessage, socket: Socket) => {
      requests.push('POST attach');
      socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
      socket.end(frame('hello\n'));
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  async function runOnce(): Promise<{ exitCode?: number; notes: string[]; output: string }> {
    const notes: string[] = [];
    const outputPath = join(dir, 'output.log');
    const outputFd = openSync(outputPath, 'w');
    try {
      const run = new ContainerRun(
        { engine: new Engine({ socketPath }, { timeoutMs: 5000 }), pullPolicy: 'never', inUse: new Set() },
        { runId: 'r1', attempt: 1, runnerId: 'runner-1', image: 'localhost/test:1', contextDir: join(dir, 'context'), env: {}, outputFd, note: (line) => notes.push(line) },
      );
      const result = await run.run();
      return { exitCode: result.exitCode, notes, output: readFileSync(outputPath, 'utf8') };
    } finally {
      closeSync(outputFd);
    }
  }

  it("tries the copy again after Podman's 500 broken pipe, then runs and keeps the exit code", async () => {
    archiveFailures = [{ status: 500, message: 'passing bulk input to subprocess: write |1: broken pipe' }];
    const got = await runOnce();
    expect(got.exitCode).toBe(3);
    expect(got.output).toBe('hello\n');
    expect(archives).toHaveLength(2);
    expect(archives[1].equals(archives[0])).toBe(true); // the same archive, made afresh
    expect(archives.every(endsAtEndMarker)).toBe(true);
    expect(got.notes.some((n) => n.includes('broken pipe') && n.includes('trying again'))).toBe(true);
    expect(requests.filter((r) => r.startsWith('POST') && r.endsWith('/start'))).toHaveLength(1);
    expect(requests.at(-1)).toMatch(/^DELETE /);
  });

  it(`gives up after ${COPY_ATTEMPTS} failed copies, and never retries a 404`, async () => {
    archiveFailures = Array.from({ length: COPY_ATTEMPTS }, () => ({ status: 500, message: 'passing bulk input to subprocess: write |1: broken pipe' }));
    const failed = await runOnce();
    expect(failed.exitCode).toBeUndefined();
    expect(archives).toHaveLength(COPY_ATTEMPTS);
    expect(failed.notes.at(-1)).toMatch(/the container failed: passing bulk input/);
    expect(requests.some((r) => r.endsWith('/start'))).toBe(false);

    archives.length = 0;
    archiveFailures = [{ status: 404, message: 'no such container' }];
    const gone = await runOnce();
    expect(gone.exitCode).toBeUndefined();
    expect(archives).toHaveLength(1);
  });
});
