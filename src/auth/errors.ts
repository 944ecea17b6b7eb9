import { DomainError } from '../common/errors';
import type { Scope } from './scopes';

/** A valid token without the scope a route needs: 403. */
export class MissingScope extends DomainError {
  readonly kind = 'forbidden';
  constructor(scope: Scope) {
    super(`This token lacks the "${scope}" scope this route needs`);
  }
}
