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

type Rule = (value: unknown) => boolean;

/**
 * The check of a plain object whose every key has a rule its value passes, with every required
 * key present. Built once per shape: a check allocates nothing (it runs on every runner request).
 */
function shape(rules: Record<string, Rule>, required: string[]): Rule {
  return (body) => {
    if (!isPlainObject(body)) return false;
    for (const key in body) {
      if (!Object.hasOwn(rules, key) || !rules[key](body[key])) return false;
    }
    for (const key of required) if (!Object.hasOwn(body, key)) return false;
    return true;
  };
}

const RESULT_STATES = new Set(['finished', 'failed', 'timeout', 'canceled']);

/** A short plain string without NUL (the container facts). */
const isFact: Rule = (v) => typeof v === 'string' && v.length <= 100 && !v.includes('\0');

/** The container facts of SPEC section 9: every field, exactly. */
const containerFacts: Rule = shape(
  { engine: isFact, version: isFact, apiVersion: isFact, os: isFact, arch: isFact, healthy: (h) => typeof h === 'boolean' },
  ['engine', 'version', 'apiVersion', 'os', 'arch', 'healthy'],
);

/** HeartbeatRequest without `framework`, `usage` or `defaultImage` (those take the full validation). */
export const heartbeatBody: FastCheck = shape(
  {
    id: isUuid,
    status: (v) => v === 'ready' || v === 'busy',
    runs: (v) => Array.isArray(v) && v.length <= 100 && v.every(isUuid),
    wait: (v) => typeof v === 'number' && v >= 0 && v <= 3600,
    container: containerFacts,
    executors: (v) =>
      Array.isArray(v) && v.length >= 1 && v.length <= 2 && v.every((e) => e === 'shell' || e === 'container'),
    // An empty list only: a runner that holds instances takes the full validation.
    instances: (v) => Array.isArray(v) && v.length === 0,
  },
  ['id', 'status'],
);

/** UpdateRequest: every field, exactly. */
export const updateBody: FastCheck = shape({ messageId: isUuid, offset: isCount, logs: (v) => typeof v === 'string' }, ['messageId', 'offset', 'logs']);

/** ResultDto without `outcome` or `data` (those take the full validation). */
const resultBody: Rule = shape(
  {
    id: isUuid,
    status: (v) => typeof v === 'string' && RESULT_STATES.has(v),
    exitCode: (v) => typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647,
    logBytes: isCount,
  },
  ['id', 'status'],
);

/** CompleteRequest whose result has no `outcome` or `data`. */
export const completeBody: FastCheck = shape({ messageId: isUuid, result: resultBody }, ['messageId', 'result']);

const checks = new WeakMap<object, FastCheck>();

/** Registers `check` as the fast path for bodies of the DTO class `dto`. */
export function fastBody(dto: object, check: FastCheck): void {
  checks.set(dto, check);
}

/** The fast check registered for a DTO class, if any. */
export function fastCheckFor(dto: unknown): FastCheck | undefined {
  return typeof dto === 'function' ? checks.get(dto) : undefined;
}
