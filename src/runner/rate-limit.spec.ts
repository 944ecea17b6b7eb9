import { RateLimiter } from './rate-limit';

describe('RateLimiter', () => {
  it('allows a burst of twice the rate, then asks to wait', () => {
    const limiter = new RateLimiter(5);
    const t = 1_000_000;
    for (let i = 0; i < 10; i++) expect(limiter.take('a', t)).toBe(0);
    expect(limiter.take('a', t)).toBeGreaterThanOrEqual(1);
  });

  it('keys by runner: one runner over its limit does not slow another', () => {
    const limiter = new RateLimiter(1);
    const t = 1_000_000;
    limiter.take('a', t);
    limiter.take('a', t);
    expect(limiter.take('a', t)).toBeGreaterThan(0);
    expect(limiter.take('b', t)).toBe(0);
  });

  it('refills with time', () => {
    const limiter = new RateLimiter(2);
    const t = 1_000_000;
    for (let i = 0; i < 4; i++) limiter.take('a', t);
    expect(limiter.take('a', t)).toBeGreaterThan(0);
    expect(limiter.take('a', t + 600)).toBe(0);
  });
});
