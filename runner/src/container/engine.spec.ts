/**
 * The Engine API client against a fake engine on a real Unix socket: what goes over the wire
 * (paths pinned to /v1.40, bodies), how answers and errors come back (404, 409, Podman's 500),
 * the multiplexed stream of attach (frames cut anywhere, a last line without a newline), and the
 * pull progress stream with a failure reported inside a 200.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Demuxer, Engine, EngineError, EngineUnavailable, splitReference } from './engine';

interface Seen {
  method: string;
  url: string;
  body: string;
  headers: http.IncomingHttpHeaders;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

/** A fake engine: `handle` answers each request; `seen` records them. */
async function fakeEngine(handle: Handler): Promise<{ engine: Engine; seen: Seen[]; server: http.Server; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'pulse-fake-engine-'));
  const socketPath = join(dir, 'engine.sock');
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('latin1')));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body, headers: req.headers });
      handle(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    engine: new Engine({ socketPath }, { timeoutMs: 2000 }),
    seen,
    server,
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

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** One multiplexed frame: type, three zero bytes, size, payload. */
function frame(type: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('Demuxer', () => {
  it('splits frames cut at every possible byte and keeps their order', () => {
    const stream = Buffer.concat([frame(1, 'out-1\n'), frame(2, 'err-1\n'), frame(1, 'out-2 '), frame(2, 'ünïcode ✓\n')]);
    for (let cut = 1; cut < stream.length; cut++) {
      const got: string[] = [];
      const d = new Demuxer((kind, payload) => got.push(`${kind}:${payload.toString()}`));
      d.push(stream.subarray(0, cut));
      d.push(stream.subarray(cut));
      d.end();
      expect(got).toEqual(['stdout:out-1\n', 'stderr:err-1\n', 'stdout:out-2 ', 'stderr:ünïcode ✓\n']);
    }
  });

  it('delivers a last frame the stream cut short, and a last line without a newline', () => {
    const got: string[] = [];
    const d = new Demuxer((_kind, payload) => got.push(payload.toString()));
    d.push(frame(1, 'complete\n'));
    d.push(frame(1, 'the last line').subarray(0, 8 + 8)); // the engine closed mid-frame
    d.end();
    expect(got).toEqual(['complete\n', 'the last']);

    const whole: string[] = [];
    const e = new Demuxer((_kind, payload) => whole.push(payload.toString()));
    e.push(Buffer.concat([frame(1, 'a\n'), frame(1, 'no newline')]));
    e.end();
    expect(whole.join('')).toBe('a\nno newline');
  });
});

describe('Engine over a Unix socket', () => {
  let fake: Awaited<ReturnType<typeof fakeEngine>> | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });

  it('pins every path to /v1.40 and reads ping and version (Podman reports itself as a component)', async () => {
    fake = await fakeEngine((req, res) => {
      if (req.url === '/v1.40/_ping') {
        res.end('OK');
        return;
      }
      json(res, 200, {
        Version: '4.3.1',
        ApiVersion: '1.41',
        Os: 'linux',
        Arch: 'amd64',
        Components: [{ Name: 'Podman Engine', Version: '4.3.1' }],
      });
    });
    expect(await fake.engine.ping()).toBe(true);
    expect(await fake.engine.version()).toEqual({ engine: 'podman', version: '4.3.1', apiVersion: '1.41', os: 'linux', arch: 'amd64' });
    expect(fake.seen.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /v1.40/_ping', 'GET /v1.40/version']);
  });

  it('creates a container by name with the JSON body as given', async () => {
    fake = await fakeEngine((_req, res) => json(res, 201, { Id: 'abc123', Warnings: [] }));
    const id = await fake.engine.createContainer('pulse-run-x-1', { Image: 'debian:12', Labels: { 'pulse.runner': 'r' }, HostConfig: { Init: true, PidsLimit: 10 } });
    expect(id).toBe('abc123');
    expect(fake.seen[0].url).toBe('/v1.40/containers/create?name=pulse-run-x-1');
    expect(JSON.parse(fake.seen[0].body)).toEqual({ Image: 'debian:12', Labels: { 'pulse.runner': 'r' }, HostConfig: { Init: true, PidsLimit: 10 } });
  });

  it('maps 404 to notFound, 409 and Podman’s state 500s to conflict, other 500s to neither', async () => {
    const answers: Record<string, [number, string]> = {
      '/v1.40/containers/gone/json': [404, 'no such container'],
      '/v1.40/images/gone/json': [404, 'no such image'],
      '/v1.40/containers/a/kill': [409, 'Container a is not running'],
      '/v1.40/containers/b/kill': [500, 'can only kill running containers. b is in state exited: container state improper'],
      '/v1.40/containers/c/start': [500, 'something broke'],
    };
    fake = await fakeEngine((req, res) => {
      const [status, message] = answers[(req.url ?? '').replace(/\?.*$/, '')] ?? [200, ''];
      json(res, status, { message, response: status });
    });
    const failure = (p: Promise<unknown>): Promise<EngineError> => p.then(() => Promise.reject(new Error('no error')), (e: unknown) => e as EngineError);
    const notFound = await failure(fake.engine.inspectContainer('gone'));
    expect(notFound).toBeInstanceOf(EngineError);
    expect({ status: notFound.status, notFound: notFound.notFound, conflict: notFound.conflict, message: notFound.message }).toEqual({
      status: 404,
      notFound: true,
      conflict: false,
      message: 'no such container',
    });
    expect((await failure(fake.engine.killContainer('a'))).conflict).toBe(true);
    const podman = await failure(fake.engine.killContainer('b'));
    expect({ status: podman.status, conflict: podman.conflict }).toEqual({ status: 500, conflict: true });
    const broken = await failure(fake.engine.startContainer('c'));
    expect({ status: broken.status, conflict: broken.conflict, notFound: broken.notFound }).toEqual({ status: 500, conflict: false, notFound: false });
    expect(await fake.engine.inspectImage('gone')).toBeUndefined(); // 404 on an image is "not present"
  });

  it('attach asks for the upgrade and hands back the raw stream, the last line without newline included', async () => {
    fake = await fakeEngine(() => undefined);
    fake.server.on('upgrade', (req: http.IncomingMessage, socket: import('node:net').Socket) => {
      socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
      socket.write(frame(1, 'line one\n'));
      setTimeout(() => {
        socket.write(Buffer.concat([frame(2, 'err\n'), frame(1, 'no newline at the end')]));
        socket.end();
      }, 20);
    });
    const stream = await fake.engine.attachContainer('abc');
    const got: string[] = [];
    const d = new Demuxer((kind, payload) => got.push(`${kind}:${payload.toString()}`));
    for await (const chunk of stream) d.push(chunk as Buffer);
    d.end();
    expect(got).toEqual(['stdout:line one\n', 'stderr:err\n', 'stdout:no newline at the end']);
  });

  it('pull reports progress line by line and fails on an error inside a 200 stream', async () => {
    fake = await fakeEngine((req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if ((req.url ?? '').includes('fromImage=bad')) {
        res.write('{"status":"Trying to pull bad:latest"}\n');
        res.end('{"error":"manifest unknown","errorDetail":{"message":"manifest unknown"}}');
        return;
      }
      res.write('{"status":"Pulling from library/debian","id":"12"}\n{"status":"Downloading","progress":"[=> ]","id":"l1"}\n');
      res.end('{"status":"Download complete","id":"l1"}'); // the last line has no newline
    });
    const lines: string[] = [];
    await fake.engine.pullImage('debian:12', (p) => lines.push(`${p.id}:${p.status}`));
    expect(lines).toEqual(['12:Pulling from library/debian', 'l1:Downloading', 'l1:Download complete']);
    expect(fake.seen[0].url).toBe('/v1.40/images/create?fromImage=debian&tag=12');
    await expect(fake.engine.pullImage('bad', () => undefined)).rejects.toThrow('manifest unknown');
  });

  it('streams an archive body to PUT /containers/{id}/archive', async () => {
    fake = await fakeEngine((_req, res) => res.end());
    await fake.engine.putArchive('abc', '/', Readable.from([Buffer.from('tar-'), Buffer.from('bytes')]));
    expect(fake.seen[0]).toMatchObject({ method: 'PUT', url: '/v1.40/containers/abc/archive?path=%2F', body: 'tar-bytes' });
    expect(fake.seen[0].headers['content-type']).toBe('application/x-tar');
  });

  it('lists by label filter and removes with force and volumes', async () => {
    fake = await fakeEngine((req, res) => (req.method === 'GET' ? json(res, 200, [{ Id: 'x', Names: ['/n'], Labels: { 'pulse.runner': 'r' }, State: 'exited', Created: 1 }]) : res.writeHead(204).end()));
    const list = await fake.engine.listContainers(['pulse.runner=r']);
    expect(list.map((c) => c.Id)).toEqual(['x']);
    await fake.engine.removeContainer('x');
    expect(fake.seen.map((s) => decodeURIComponent(s.url))).toEqual([
      '/v1.40/containers/json?all=1&filters={"label":["pulse.runner=r"]}',
      '/v1.40/containers/x?force=1&v=1',
    ]);
  });

  it('an absent socket is EngineUnavailable, not an EngineError', async () => {
    const engine = new Engine({ socketPath: join(tmpdir(), 'pulse-no-such-engine.sock') });
    await expect(engine.ping()).rejects.toBeInstanceOf(EngineUnavailable);
  });
});

describe('splitReference', () => {
  it.each([
    ['debian', { name: 'debian', tag: 'latest' }],
    ['debian:12', { name: 'debian', tag: '12' }],
    ['registry:5000/team/app', { name: 'registry:5000/team/app', tag: 'latest' }],
    ['registry:5000/team/app:1.2', { name: 'registry:5000/team/app', tag: '1.2' }],
    [`alpine@sha256:${'a'.repeat(64)}`, { name: `alpine@sha256:${'a'.repeat(64)}` }],
  ])('%s', (ref, want) => expect(splitReference(ref)).toEqual(want));
});
