import fastifyStatic from '@fastify/static';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Where `npm run build` puts the dashboard (web/ built by Vite): dist/web beside dist/src. */
export const DASHBOARD_DIR = resolve(__dirname, '../../web');

/**
 * The dashboard's Content-Security-Policy: scripts, styles and connections from this origin only,
 * no inline script, never framed. Swagger UI (/api/docs, which needs inline scripts) does not get
 * it: it is set on the dashboard's own responses only.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

/** Paths that belong to the API: never answered with the dashboard, whatever is after them. */
function isApiPath(url: string): boolean {
  const path = url.split('?')[0];
  return path === '/api' || path.startsWith('/api/') || path === '/metrics' || path.startsWith('/metrics/');
}

/**
 * Serves the dashboard at `/` (SPEC 8): hashed files under /assets/ cached for a year,
 * index.html for every other GET that is not the API (so /runs/<id> survives a reload) and never
 * cached. Unknown /api/… paths keep the API's JSON 404.
 */
export async function serveDashboard(app: NestFastifyApplication, dir: string = DASHBOARD_DIR): Promise<void> {
  const index = join(dir, 'index.html');
  const built = existsSync(index);
  if (!built) {
    new Logger('Dashboard').warn(`no dashboard build in ${dir}: run \`npm run build\``);
  }
  if (built && existsSync(join(dir, 'assets'))) {
    await app.register(fastifyStatic, {
      root: join(dir, 'assets'),
      prefix: '/assets/',
      decorateReply: false,
      cacheControl: false,
      etag: true,
      lastModified: false,
      index: false,
      setHeaders(reply) {
        void reply.headers({ 'cache-control': 'public, max-age=31536000, immutable', ...SECURITY_HEADERS });
      },
    });
  }
  const html = built ? readFileSync(index) : Buffer.from('The dashboard is not built: run `npm run build`.\n');
  const fastify = app.getHttpAdapter().getInstance();
  fastify.get('/*', (request: FastifyRequest, reply: FastifyReply) => {
    if (isApiPath(request.url)) {
      reply.callNotFound();
      return;
    }
    void reply
      .code(built ? 200 : 503)
      .headers({
        'content-type': built ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8',
        'cache-control': 'no-cache',
        'content-security-policy': DASHBOARD_CSP,
        ...SECURITY_HEADERS,
      })
      .send(html);
  });
}
