import { CanActivate, createParamDecorator, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AuditService } from '../audit/audit.service';
import { DomainError, RateLimited } from '../common/errors';
import { bearerToken } from '../common/secrets';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { MetricsService } from '../metrics/metrics.service';
import { RateLimiter } from './rate-limit';
import type { AuthenticatedRunner } from './runner-cache';
import { RunnerTokenService } from './runner-token.service';

type RunnerRequest = FastifyRequest & { runner?: AuthenticatedRunner };

/**
 * The runner routes: `Authorization: Bearer <runner_token>`. 401 for no, an unknown or an expired
 * token, 403 for a deregistered runner, 429 with Retry-After over the runner's own rate limit. The
 * runner is attached to the request for `@CurrentRunner()`.
 *
 * Every request of every runner comes through here, so a token verified recently is admitted
 * synchronously (RunnerTokenService.known: no promise, no address lookup); only the rest take the
 * asynchronous path, which reads the database and records refusals in the audit log.
 */
@Injectable()
export class RunnerAuthGuard implements CanActivate {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly tokens: RunnerTokenService,
    private readonly metrics: MetricsService,
    private readonly audit: AuditService,
    @Inject(PULSE_CONFIG) config: PulseConfig,
  ) {
    this.limiter = new RateLimiter(config.runnerRateLimit);
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const request = context.switchToHttp().getRequest<RunnerRequest>();
    const token = bearerToken(request.headers.authorization);
    const known = this.tokens.known(token);
    return known ? this.admit(request, known) : this.verify(request, token);
  }

  private async verify(request: RunnerRequest, token: string): Promise<boolean> {
    const ip = request.ip ?? null;
    let runner: AuthenticatedRunner;
    try {
      runner = await this.tokens.authenticate(token, ip);
    } catch (err) {
      if (err instanceof DomainError) this.audit.deniedRequest(ip, err.kind === 'forbidden' ? 403 : 401, request.method, request.url, err.message);
      throw err;
    }
    return this.admit(request, runner);
  }

  /** Within its rate limit: attached to the request. */
  private admit(request: RunnerRequest, runner: AuthenticatedRunner): boolean {
    const wait = this.limiter.take(runner.id);
    if (wait > 0) {
      this.metrics.inc('pulse_rate_limited_total');
      throw new RateLimited(wait);
    }
    request.runner = runner;
    return true;
  }
}

/** The authenticated runner of a runner route. */
export const CurrentRunner = createParamDecorator((_: unknown, context: ExecutionContext): AuthenticatedRunner => {
  const runner = context.switchToHttp().getRequest<RunnerRequest>().runner;
  if (!runner) throw new Error('CurrentRunner used on a route without RunnerAuthGuard');
  return runner;
});
