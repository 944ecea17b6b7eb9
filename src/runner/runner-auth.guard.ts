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

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<RunnerRequest>();
    const ip = request.ip ?? null;
    const runner = await this.tokens.authenticate(bearerToken(request.headers.authorization), ip).catch((err: unknown) => {
      if (err instanceof DomainError) this.audit.deniedRequest(ip, err.kind === 'forbidden' ? 403 : 401, request.method, request.url, err.message);
      throw err;
    });
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
