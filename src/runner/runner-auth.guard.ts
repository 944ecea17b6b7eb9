import { CanActivate, createParamDecorator, ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { bearerToken } from '../common/secrets';
import type { RunnerRow } from './runner.entity';
import { RunnerService } from './runner.service';

type RunnerRequest = FastifyRequest & { runner?: RunnerRow };

/**
 * The runner routes: `Authorization: Bearer <runner_token>`. 401 for no or an unknown token,
 * 403 for a deregistered runner. The runner is attached to the request for `@CurrentRunner()`.
 */
@Injectable()
export class RunnerAuthGuard implements CanActivate {
  constructor(private readonly runners: RunnerService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<RunnerRequest>();
    request.runner = await this.runners.authenticate(bearerToken(request.headers.authorization));
    return true;
  }
}

/** The authenticated runner of a runner route. */
export const CurrentRunner = createParamDecorator((_: unknown, context: ExecutionContext): RunnerRow => {
  const runner = context.switchToHttp().getRequest<RunnerRequest>().runner;
  if (!runner) throw new Error('CurrentRunner used on a route without RunnerAuthGuard');
  return runner;
});
