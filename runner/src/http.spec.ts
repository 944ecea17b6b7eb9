import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ApiClient } from './api-client';
import { NetworkError, Transport, parseRetryAfter } from './http';
import { proxyFor, readProxyEnv } from './proxy';
import { FakeOrchestrator } from './test-support/fake-orchestrator';
import { cleanTempDirs, tempDir } from './test-support/helpers';

afterAll(cleanTempDirs);

describe('proxyFor', () => {
  const env = { httpsProxy: 'http://proxy.corp:3128', httpProxy: 'proxy.corp:8080', noProxy: 'localhost, .internal.example,10.0.0.7,ci.example.com:8443' };

  it('picks the proxy by scheme, curl style', () => {
    expect(proxyFor(new URL('https://ci.example.org'), env)?.href).toBe('http://proxy.corp:3128/');
    expect(proxyFor(new URL('http://ci.example.org'), env)?.href).toBe('http://proxy.corp:8080/');
  });

  it('honours NO_PROXY hosts, domain suffixes, IPs and ports', () => {
    expect(proxyFor(new URL('https://localhost:3000'), env)).toBeUndefined();
    expect(proxyFor(new URL('https://ci.internal.example'), env)).toBeUndefined();
    expect(proxyFor(new URL('https://internal.example'), env)).toBeUndefined();
    expect(proxyFor(new URL('https://notinternal.example'), env)).toBeDefined();
    expect(proxyFor(new URL('https://10.0.0.7'), env)).toBeUndefined();
    expect(proxyFor(new URL('https://ci.example.com:8443'), env)).toBeUndefined();
    expect(proxyFor(new URL('https://ci.example.com'), env)).toBeDefined();
    expect(proxyFor(new URL('https://anything'), { ...env, noProxy: '*' })).toBeUndefined();
  });

  it('reads lower-case variables first', () => {
    expect(readProxyEnv({ HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:1', NO_PROXY: 'x' })).toEqual({
      httpsProxy: 'http://lower:1',
      httpProxy: undefined,
      noProxy: 'x',
    });
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

/** A forward proxy: CONNECT tunnels and absolute-form requests, counting both. */
async function startProxy(requireAuth?: string): Promise<{ url: string; connects: string[]; forwarded: string[]; close(): Promise<void> }> {
  const connects: string[] = [];
  const forwarded: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    if (requireAuth && req.headers['proxy-authorization'] !== requireAuth) {
      res.writeHead(407).end();
      return;
    }
    forwarded.push(req.url ?? '');
    const target = new URL(req.url ?? '');
    const upstream = http.request(
      { hostname: target.hostname, port: target.port, path: target.pathname, method: req.method, headers: { ...req.headers, 'proxy-authorization': '' } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  server.on('connect', (req: http.IncomingMessage, client: net.Socket) => {
    if (requireAuth && req.headers['proxy-authorization'] !== requireAuth) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n');
      return;
    }
    connects.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream).add(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  server.on('connection', (s: net.Socket) => sockets.add(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connects,
    forwarded,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

(hasOpenssl() ? describe : describe.skip)('HTTPS, --ca-file and HTTPS_PROXY', () => {
  let fake: FakeOrchestrator;
  let ca: Buffer;

  beforeAll(async () => {
    const dir = tempDir('pulse-tls-');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { stdio: 'ignore' },
    );
    ca = readFileSync(join(dir, 'cert.pem'));
    fake = await FakeOrchestrator.start({ key: readFileSync(join(dir, 'key.pem')), cert: ca });
  });
  afterAll(async () => {
    await fake.close();
  });

  const heartbeat = (transport: Transport) =>
    new ApiClient(fake.url, transport, { token: fake.runnerToken, timeoutMs: 5000 }).heartbeat({ id: fake.runnerId, status: 'busy', runs: [] });

  it('trusts the --ca-file CA, and refuses the self-signed server without it', async () => {
    const trusting = new Transport({ userAgent: 'spec', ca });
    const systemOnly = new Transport({ userAgent: 'spec' });
    try {
      await expect(heartbeat(trusting)).resolves.toMatchObject({ status: 'ok' });
      await expect(heartbeat(systemOnly)).rejects.toBeInstanceOf(NetworkError);
    } finally {
      trusting.close();
      systemOnly.close();
    }
  });

  it('tunnels through HTTPS_PROXY with CONNECT, keeping the tunnel alive between requests', async () => {
    const proxy = await startProxy('Basic ' + Buffer.from('user:p@ss').toString('base64'));
    const proxyUrl = proxy.url.replace('http://', 'http://user:p%40ss@');
    const transport = new Transport({ userAgent: 'spec', ca, proxy: { httpsProxy: proxyUrl } });
    try {
      for (let i = 0; i < 3; i++) await expect(heartbeat(transport)).resolves.toMatchObject({ status: 'ok' });
      expect(proxy.connects).toEqual([new URL(fake.url).host]);
    } finally {
      transport.close();
      await proxy.close();
    }
  });

  it('goes direct for NO_PROXY hosts', async () => {
    const proxy = await startProxy();
    const transport = new Transport({ userAgent: 'spec', ca, proxy: { httpsProxy: proxy.url, noProxy: '127.0.0.1' } });
    try {
      await expect(heartbeat(transport)).resolves.toMatchObject({ status: 'ok' });
      expect(proxy.connects).toEqual([]);
    } finally {
      transport.close();
      await proxy.close();
    }
  });

  it('reports a proxy that refuses the tunnel as a network error (retryable)', async () => {
    const proxy = await startProxy('Basic nope');
    const transport = new Transport({ userAgent: 'spec', ca, proxy: { httpsProxy: proxy.url } });
    try {
      await expect(heartbeat(transport)).rejects.toMatchObject({ name: 'NetworkError', message: expect.stringMatching(/407/) });
    } finally {
      transport.close();
      await proxy.close();
    }
  });
});

describe('HTTP_PROXY for a plain-http orchestrator', () => {
  it('sends absolute-form requests to the proxy', async () => {
    const fake = await FakeOrchestrator.start();
    const proxy = await startProxy();
    const transport = new Transport({ userAgent: 'spec', proxy: { httpProxy: proxy.url } });
    try {
      const api = new ApiClient(fake.url, transport, { token: fake.runnerToken, timeoutMs: 5000 });
      await expect(api.heartbeat({ id: fake.runnerId, status: 'busy', runs: [] })).resolves.toMatchObject({ status: 'ok' });
      expect(proxy.forwarded).toEqual([`${fake.url}/api/runner/heartbeat`]);
    } finally {
      transport.close();
      await proxy.close();
      await fake.close();
    }
  });
});
