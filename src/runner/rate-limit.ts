/**
 * Token buckets keyed by runner id (SPEC section 7: runner routes are limited per runner, not per
 * IP, since many runners share one NAT address). `rate` requests per second, bursts of twice that.
 * Per process: with N orchestrator processes behind a balancer a runner gets at most N times the
 * rate, which is what the limit is for (stopping one runner from flooding), not accounting.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly burst: number;

  constructor(private readonly rate: number) {
    this.burst = Math.max(1, rate * 2);
  }

  /** 0 when the request may go ahead, else the seconds to wait before retrying. */
  take(key: string, now = Date.now()): number {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(key, bucket);
      if (this.buckets.size > 100_000) this.prune(now);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.rate);
    bucket.at = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate));
  }

  /** Forgets buckets that are full again (idle runners). */
  private prune(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.rate >= this.burst) this.buckets.delete(k);
    }
  }
}
