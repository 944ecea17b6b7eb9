import { applyDecorators, SetMetadata, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiExtension, ApiResponse } from '@nestjs/swagger';
import { ErrorResponse } from '../common/api-errors';
import { Scope, SCOPE_KEY } from './scopes';
import { TokenGuard } from './token.guard';

/** The security scheme of the user and admin API in the OpenAPI document. */
export const TOKEN_SCHEME = 'token';

/**
 * States the scope a route needs (SPEC section 12) and guards it: `TokenGuard` reads the bearer
 * token, 401 when it is missing, unknown, expired or revoked, 403 when it lacks the scope. The
 * OpenAPI document shows it as the `token` security scheme and `x-pulse-scope`. Put it on every
 * route of the user and admin API (not on the controller): a route without it answers 403 to
 * every token but an admin one, and the scope matrix test (test/scopes.e2e-spec.ts) fails it.
 */
export function RequireScope(scope: Scope): MethodDecorator {
  return applyDecorators(
    SetMetadata(SCOPE_KEY, scope),
    UseGuards(TokenGuard),
    ApiBearerAuth(TOKEN_SCHEME),
    ApiExtension('x-pulse-scope', scope),
    ApiResponse({ status: 401, description: 'No, unknown, expired or revoked token', type: ErrorResponse }),
    ApiResponse({ status: 403, description: `The token lacks the \`${scope}\` scope`, type: ErrorResponse }),
  );
}
