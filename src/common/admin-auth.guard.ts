/**
 * Kept for routes written before scopes existed: `@UseGuards(AdminAuthGuard)` is the token guard,
 * which asks for the `admin` scope when a route states none. New routes state their scope with
 * `@RequireScope()` (src/auth/require-scope.decorator.ts); the scope matrix test fails any route
 * that does not.
 */
export { TokenGuard as AdminAuthGuard } from '../auth/token.guard';
