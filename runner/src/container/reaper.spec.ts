/**
 * The reaper against a fake engine on a Unix socket: it asks for its own label only, removes its
 * own containers that no run uses, and never another runner's, even if the engine's filter let
 * one through.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../logger';
import { Engine } from './engine';
import { Reaper } from './reaper';

describe('Reaper', () => {
  let server: http.Server;
  let dir: string;
  const removed: string[] = [];
  const listed: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pulse-reaper-'));
    server = http.createServer((req, res) => {
      const url = decodeURIComponent(req.url ?? '');
      if (req.method === 'GET') {
        listed.push(url);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify([
            { Id: 'mine-old', Names: ['/pulse-run-a-1'], Labels: { 'pulse.runner': 'me', 'pulse.run': 'a' }, State: 'running', Created: 1 },
            { Id: 'mine-busy', Names: ['/pulse-run-b-1'], Labels: { 'pulse.runner': 'me', 'pulse.run': 'b' }, State: 'running', Created: 2 },
            // An engine that ignored the filter: another runner's container must survive.
            { Id: 'theirs', Names: ['/pulse-run-c-1'], Labels: { 'pulse.runner': 'someone-else', 'pulse.run': 'c' }, State: 'running', Created: 3 },
            // Its own instance container (SPEC section 10): the instances' owner, not the reaper, decides.
            { Id: 'mine-instance', Names: ['/pulse-instance-e'], Labels: { 'pulse.runner': 'me', 'pulse.instance': 'e' }, State: 'running', Created: 5 },
            { Id: 'mine-gone', Names: ['/pulse-run-d-1'], Labels: { 'pulse.runner': 'me', 'pulse.run': 'd' }, State: 'exited', Created: 4 },
          ]),
        );
        return;
      }
      const id = /\/containers\/([^/?]+)/.exec(url)?.[1] ?? '';
      if (id === 'mine-gone') {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end('{"message":"no such container"}');
        return;
      }
      removed.push(id);
      res.writeHead(204).end();
    });
    await new Promise<void>((resolve) => server.listen(join(dir, 'engine.sock'), resolve));
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('removes its own unused containers only', async () => {
    const reaper = new Reaper(new Engine({ socketPath: join(dir, 'engine.sock') }), 'me', new Set(['pulse-run-b-1']), createLogger('error'), 60_000);
    expect(await reaper.start()).toBe(1);
    reaper.stop();
    expect(listed).toEqual(['/v1.40/containers/json?all=1&filters={"label":["pulse.runner=me"]}']);
    expect(removed).toEqual(['mine-old']);
  });
});
