import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { RawServerDefault } from 'fastify';

/**
 * The JSON body parser, registered through Nest (so Nest does not register its own), except
 * that an empty body sent with `Content-Type: application/json` is no body at all (SPEC section
 * 13: curl users set the header on every call, DELETE included). A route that takes no body then
 * works; a route that needs one still answers 400 (its DTO's validation refuses a missing body).
 * A non-empty body goes to Fastify's own JSON parser, with its protection against `__proto__`
 * and `constructor` poisoning, so a malformed one is still a 400.
 */
export function acceptEmptyJsonBodies(app: NestFastifyApplication, bodyLimit: number): void {
  const parse = app.getHttpAdapter().getInstance().getDefaultJsonParser('error', 'error');
  app.useBodyParser<RawServerDefault>('application/json', { bodyLimit }, (req, body, done) => {
    const text = body.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    void parse(req, text, done);
  });
}
