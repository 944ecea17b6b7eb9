import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Caller } from './scopes';
import type { CallerRequest } from './token.guard';

/** The authenticated caller of a route guarded by `@RequireScope()`. */
export const CurrentCaller = createParamDecorator((_: unknown, context: ExecutionContext): Caller => {
  const caller = context.switchToHttp().getRequest<CallerRequest>().caller;
  if (!caller) throw new Error('CurrentCaller used on a route without RequireScope');
  return caller;
});
