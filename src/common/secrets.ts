import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefix of every runner token, so secret scanners can spot a leaked one. */
export const RUNNER_TOKEN_PREFIX = 'pulse_rt_';

export function newRunnerToken(): string {
  return RUNNER_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function sha256(value: string): Buffer {
  return hash('sha256', value, 'buffer');
}

/** The SHA-256 of a string as hex: the runner token cache's key (one call, no Hash object). */
export function sha256Hex(value: string): string {
  return hash('sha256', value, 'hex');
}

/**
 * Constant-time comparison of two secrets. Both sides are hashed first so that the buffers have
 * the same length (`timingSafeEqual` throws otherwise) and nothing leaks the secret's length.
 */
export function secretEquals(given: string, expected: string): boolean {
  if (!given || !expected) return false;
  return timingSafeEqual(sha256(given), sha256(expected));
}

export function hmac(key: string, value: string): Buffer {
  return createHmac('sha256', key).update(value).digest();
}

/** The bearer token of an `Authorization` header, or '' when there is none. */
export function bearerToken(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return '';
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match ? match[1] : '';
}
