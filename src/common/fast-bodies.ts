/**
 * Hand-written checks for the bodies of the hot runner routes (heartbeat, log update, complete).
 *
 * Each check accepts only a strict subset of what the DTO's class-validator rules accept: a body
 * it accepts is valid and is used as it is; anything else (an unusual field, a wrong type, a
 * value near a limit) goes to class-validator, which decides and words the 400. So the rules and
 * messages stay those of the DTO classes, and the common bodies skip class-transformer and
 * class-validator (about a tenth of an idle heartbeat's CPU).
 */

/** RFC 4122 layout, versions 1-8: a subset of class-validator's IsUUID('all'). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

export type FastCheck = (body: unknown) => boolean;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

function isUuid(v: unknown): boolean {
  return typeof v === 'string' && v.length === 36 && UUID.test(v);
}

function isCount(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** HeartbeatRequest without `framework` or `usage` (those take the full validation). */
export const heartbeatBody: FastCheck = (body) => {
  if (!isPlainObject(body)) return false;
  for (const key in body) {
    const v = body[key];
    switch (key) {
      case 'id':
        if (!isUuid(v)) return false;
        break;
      case 'status':
        if (v !== 'ready' && v !== 'busy') return false;
        break;
      case 'runs':
        if (!Array.isArray(v) || v.length > 100 || !v.every(isUuid)) return false;
        break;
      case 'wait':
        if (typeof v !== 'number' || !(v >= 0 && v <= 3600)) return false;
        break;
      default:
        return false;
    }
  }
  return 'id' in body && 'status' in body;
};

/** UpdateRequest: every field, exactly. */
export const updateBody: FastCheck = (body) => {
  if (!isPlainObject(body)) return false;
  let n = 0;
  for (const key in body) {
    n++;
    if (key === 'messageId') {
      if (!isUuid(body[key])) return false;
    } else if (key === 'offset') {
      if (!isCount(body[key])) return false;
    } else if (key === 'logs') {
      if (typeof body[key] !== 'string') return false;
    } else return false;
  }
  return n === 3;
};

const RESULT_STATES = new Set(['finished', 'failed', 'timeout', 'canceled']);

/** CompleteRequest whose result has no `outcome` or `data` (those take the full validation). */
export const completeBody: FastCheck = (body) => {
  if (!isPlainObject(body)) return false;
  let n = 0;
  for (const key in body) {
    n++;
    if (key === 'messageId') {
      if (!isUuid(body[key])) return false;
    } else if (key !== 'result') return false;
  }
  const result = body.result;
  if (n !== 2 || !isPlainObject(result)) return false;
  for (const key in result) {
    const v = result[key];
    switch (key) {
      case 'id':
        if (!isUuid(v)) return false;
        break;
      case 'status':
        if (typeof v !== 'string' || !RESULT_STATES.has(v)) return false;
        break;
      case 'exitCode':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) return false;
        break;
      case 'logBytes':
        if (!isCount(v)) return false;
        break;
      default:
        return false;
    }
  }
  return 'id' in result && 'status' in result;
};

const checks = new WeakMap<object, FastCheck>();

/** Registers `check` as the fast path for bodies of the DTO class `dto`. */
export function fastBody(dto: object, check: FastCheck): void {
  checks.set(dto, check);
}

/** The fast check registered for a DTO class, if any. */
export function fastCheckFor(dto: unknown): FastCheck | undefined {
  return typeof dto === 'function' ? checks.get(dto) : undefined;
}
