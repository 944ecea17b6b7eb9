/** Small pure helpers of the admin forms (unit-tested in forms.spec.ts). */

/** "a, b, c" → ["a", "b", "c"] (blank parts dropped). */
export function commaList(text: string): string[] {
  return text
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

/** A date in `days` days, as ISO 8601 (an expiry field in days). */
export function inDays(days: number, now = Date.now()): string {
  return new Date(now + days * 86_400_000).toISOString();
}

/** "revoked", "expired" or "active", for a token row. */
export function tokenStatus(t: { revoked_at: string | null; expires_at: string | null }, now = Date.now()): 'revoked' | 'expired' | 'active' {
  if (t.revoked_at) return 'revoked';
  if (t.expires_at && new Date(t.expires_at).getTime() <= now) return 'expired';
  return 'active';
}
