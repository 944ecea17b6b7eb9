import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { AuditService } from '../audit/audit.service';
import { DomainError } from '../common/errors';
import { bearerToken } from '../common/secrets';
import { MissingScope } from './errors';
import { allows, Caller, Scope, SCOPE_KEY } from './scopes';
import { TokenService } from './token.service';

export type CallerRequest = FastifyRequest & { caller?: Caller };

/**
 * The one place that reads the bearer token of the user and admin API (STYLE item 20). The
 * route's scope comes from `@RequireScope()`; a route that states none needs `admin` (closed by
 * default). 401 for no, an unknown, expired or revoked token; 403 for a missing scope. Refusals
 * go to the audit log (`auth.denied`, at most one per address and minute). The caller is
 * attached to the request for `@CurrentCaller()`.
 */
@Injectable()
export class TokenGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenService,
    private readonly audit: AuditService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const needed = this.reflector.getAllAndOverride<Scope | undefined>(SCOPE_KEY, [context.getHandler(), context.getClass()]) ?? 'admin';
    const request = context.switchToHttp().getRequest<CallerRequest>();
    const ip = request.ip ?? null;
    try {
      const caller = await this.tokens.authenticate(bearerToken(request.headers.authorization), ip);
      if (!allows(caller.scopes, needed)) throw new MissingScope(needed);
      request.caller = caller;
      return true;
    } catch (err) {
      if (err instanceof DomainError && (err.kind === 'unauthenticated' || err.kind === 'forbidden')) {
        this.audit.deniedRequest(ip, err.kind === 'forbidden' ? 403 : 401, request.method, request.url, err.message);
      }
      throw err;
    }
  }
}
