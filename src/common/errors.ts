/**
 * Domain errors. Services throw these (never HTTP exceptions, since the sweeper calls the same
 * services outside HTTP); `DomainErrorFilter` maps them to HTTP once.
 */
export abstract class DomainError extends Error {
  abstract readonly kind: DomainErrorKind;
  /** Extra fields merged into the JSON error body (e.g. `expectedOffset`). */
  readonly extra: Record<string, unknown> = {};
}

export type DomainErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'gone'
  | 'offset-gap'
  | 'rate-limited'
  | 'unavailable';

export class InvalidInput extends DomainError {
  readonly kind = 'invalid';
}

export class Unauthenticated extends DomainError {
  readonly kind = 'unauthenticated';
}

/** Exactly the body the runner protocol specifies for a blacklisted or foreign runner. */
export class Forbidden extends DomainError {
  readonly kind = 'forbidden';
  constructor() {
    super('Forbidden resource');
  }
}

export class NotFound extends DomainError {
  readonly kind = 'not-found';
}

export class Conflict extends DomainError {
  readonly kind = 'conflict';
}

/** It existed and was removed on purpose (a log dropped by LOG_RETENTION_DAYS). */
export class Gone extends DomainError {
  readonly kind = 'gone';
}

/** A stale or foreign `messageId`: the caller no longer holds the run's lease. */
export class LeaseLost extends Conflict {}

/** A log offset beyond what is stored: the runner must resend from `expectedOffset`. */
export class OffsetGap extends DomainError {
  readonly kind = 'offset-gap';
  constructor(message: string, expectedOffset: number) {
    super(message);
    this.extra.expectedOffset = expectedOffset;
  }
}

export class RateLimited extends DomainError {
  readonly kind = 'rate-limited';
  constructor(readonly retryAfterSeconds: number) {
    super('Too many requests: slow down');
  }
}

export class Unavailable extends DomainError {
  readonly kind = 'unavailable';
}
