import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { Unauthenticated } from './errors';
import { bearerToken, secretEquals } from './secrets';

/** The user and admin API: `Authorization: Bearer <ADMIN_TOKEN>` (SPEC section 3). */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  constructor(@Inject(PULSE_CONFIG) private readonly config: PulseConfig) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const token = bearerToken(request.headers.authorization);
    if (!token) throw new Unauthenticated('Missing bearer token: send Authorization: Bearer <ADMIN_TOKEN>');
    if (!secretEquals(token, this.config.adminToken)) throw new Unauthenticated('Invalid admin token');
    return true;
  }
}
