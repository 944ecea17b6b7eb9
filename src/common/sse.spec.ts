import { createServer, request, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyReply } from 'fastify';
import { sseFrame, SseStream } from './sse';

/** A real HTTP server whose handler streams with SseStream (the reply is the raw response). */
async function serve(handler: (stream: SseStream) => Promise<void>, drainTimeoutMs: number): Promise<{ server: Server; port: number; done: Promise<void> }> {
  let finish: () => void = () => undefined;
  const done = new Promise<void>((r) => (finish = r));
  const server = createServer((_req, res) => {
    const stream = new SseStream({ keepAliveMs: 60000, drainTimeoutMs });
    stream.open({ hijack: () => undefined, raw: res } as unknown as FastifyReply);
    void handler(stream).finally(finish);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, done };
}

describe('SseStream', () => {
  it('formats frames with id, event and one data line', () => {
    expect(sseFrame('run', '{"a":1}', 7)).toBe('id: 7\nevent: run\ndata: {"a":1}\n\n');
    expect(sseFrame('end', '{}')).toBe('event: end\ndata: {}\n\n');
  });

  it('disconnects a client that does not read within the drain bound, and says so instead of skipping', async () => {
    let sent = 0;
    let refused = false;
    const started = Date.now();
    const { server, port, done } = await serve(async (stream) => {
      const big = sseFrame('log', JSON.stringify({ text: 'x'.repeat(1024 * 1024) }), 1);
      for (let i = 0; i < 200; i++) {
        if (!(await stream.send(big))) {
          refused = true;
          return;
        }
        sent++;
      }
    }, 300);
    // A client that takes the headers and then never reads the body.
    const req = request({ host: '127.0.0.1', port, path: '/' }, (res) => res.pause());
    req.end();
    await done;
    expect(refused).toBe(true);
    expect(sent).toBeLessThan(200);
    expect(Date.now() - started).toBeLessThan(20000);
    req.destroy();
    server.close();
  });

  it('waits for a slow client that does drain', async () => {
    let delivered = 0;
    const { server, port, done } = await serve(async (stream) => {
      const frame = sseFrame('log', JSON.stringify({ text: 'y'.repeat(256 * 1024) }), 1);
      for (let i = 0; i < 40; i++) if (!(await stream.send(frame))) return;
      stream.end();
    }, 5000);
    await new Promise<void>((resolve) => {
      request({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.on('data', (c: Buffer) => {
          delivered += c.length;
          res.pause();
          setTimeout(() => res.resume(), 5);
        });
        res.on('end', resolve);
      }).end();
    });
    await done;
    expect(delivered).toBeGreaterThan(40 * 256 * 1024);
    server.close();
  });
});
