import { ApiClient } from './api-client';
import { HttpError, NetworkError, Transport } from './http';
import { backoffDelay, isAuthFailure, isRetryable, retry, retryDelay, type RetryPolicy } from './retry';
import { FakeOrchestrator } from './test-support/fake-orchestrator';
import { FAST_RETRY, clientFor } from './test-support/helpers';

describe('retry policy', () => {
  const policy: RetryPolicy = { baseMs: 500, maxMs: 30_000, maxAttempts: Infinity };

  it('doubles from 0.5 s up to 30 s, with jitter in the upper half of each step', () => {
    expect(backoffDelay(0, policy, () => 0)).toBe(250);
    expect(backoffDelay(0, policy, () => 1)).toBe(500);
    expect(backoffDelay(1, policy, () => 1)).toBe(1000);
    expect(backoffDelay(3, policy, () => 1)).toBe(4000);
    expect(backoffDelay(10, policy, () => 1)).toBe(30_000);
    expect(backoffDelay(100, policy, () => 0)).toBe(15_000);
  });

  it('waits what Retry-After asks, never less', () => {
    const err = new HttpError(429, {}, 3000);
    expect(retryDelay(err, 0, policy, () => 0)).toBe(3000);
    expect(retryDelay(err, 0, policy, () => 1)).toBeGreaterThanOrEqual(3000);
    expect(retryDelay(err, 0, policy, () => 1)).toBeLessThanOrEqual(3300);
  });

  it('retries network errors, 429 and 5xx; 401/403 and other 4xx are final', () => {
    expect(isRetryable(new NetworkError('reset', 'ECONNRESET'))).toBe(true);
    expect(isRetryable(new HttpError(429, {}))).toBe(true);
    expect(isRetryable(new HttpError(503, {}))).toBe(true);
    expect(isRetryable(new HttpError(500, {}))).toBe(true);
    for (const status of [400, 401, 403, 404, 413]) expect(isRetryable(new HttpError(status, {}))).toBe(false);
    expect(isAuthFailure(new HttpError(403, {}))).toBe(true);
    expect(isAuthFailure(new HttpError(401, {}))).toBe(true);
    expect(isAuthFailure(new HttpError(409, {}))).toBe(false);
  });
});

describe('retry against a flaky orchestrator (real HTTP)', () => {
  let fake: FakeOrchestrator;
  let transport: Transport;
  let api: ApiClient;
  const heartbeat = () => api.heartbeat({ id: fake.runnerId, status: 'ready', runs: [] });

  beforeEach(async () => {
    fake = await FakeOrchestrator.start();
    transport = new Transport({ userAgent: 'spec' });
    api = clientFor(fake, transport);
  });
  afterEach(async () => {
    transport.close();
    await fake.close();
  });

  it('retries 5xx until the orchestrator answers', async () => {
    let failures = 3;
    fake.intercept(() => (failures-- > 0 ? { status: 503, body: { statusCode: 503, message: 'database unreachable' } } : undefined));
    const retried: number[] = [];
    const reply = await retry(heartbeat, { policy: FAST_RETRY, onRetry: (_e, attempt) => retried.push(attempt) });
    expect(reply.status).toBe('ok');
    expect(retried).toEqual([0, 1, 2]);
    expect(fake.heartbeats()).toHaveLength(4);
  });

  it('retries a dropped connection (network error)', async () => {
    let drops = 2;
    fake.intercept(() => (drops-- > 0 ? 'drop' : undefined));
    const reply = await retry(heartbeat, { policy: FAST_RETRY });
    expect(reply.interval).toBe(fake.interval);
    expect(fake.heartbeats()).toHaveLength(3);
  });

  it('retries a refused connection until the server is back', async () => {
    const down = new ApiClient('http://127.0.0.1:9', transport, { token: 'x', timeoutMs: 1000 });
    const errors: unknown[] = [];
    await expect(
      retry(() => down.heartbeat({ id: 'x', status: 'ready' }), {
        policy: { ...FAST_RETRY, maxAttempts: 3 },
        onRetry: (err) => errors.push(err),
      }),
    ).rejects.toBeInstanceOf(NetworkError);
    expect(errors).toHaveLength(2);
  });

  it('honours Retry-After on 429', async () => {
    let limited = true;
    fake.intercept(() => {
      if (!limited) return undefined;
      limited = false;
      return { status: 429, headers: { 'retry-after': '1' }, body: { statusCode: 429, message: 'slow down' } };
    });
    const started = Date.now();
    await retry(heartbeat, { policy: FAST_RETRY });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(fake.heartbeats()).toHaveLength(2);
  });

  it('does not retry 403 (deregistered) or 400', async () => {
    fake.deregistered = true;
    await expect(retry(heartbeat, { policy: FAST_RETRY })).rejects.toMatchObject({ status: 403 });
    expect(fake.heartbeats()).toHaveLength(1);
    fake.deregistered = false;
    fake.intercept(() => ({ status: 400, body: { statusCode: 400, message: 'bad' } }));
    await expect(retry(heartbeat, { policy: FAST_RETRY })).rejects.toMatchObject({ status: 400 });
    expect(fake.heartbeats()).toHaveLength(2);
  });

  it('reuses one keep-alive connection for successive requests', async () => {
    for (let i = 0; i < 5; i++) await heartbeat();
    expect(new Set(fake.heartbeats().map((r) => r.connection)).size).toBe(1);
  });

  it('times out a request the server never answers, and retries it', async () => {
    let hang = true;
    fake.intercept(() => {
      if (!hang) return undefined;
      hang = false;
      return 'hang';
    });
    const impatient = new ApiClient(fake.url, transport, { token: fake.runnerToken, timeoutMs: 200 });
    const errors: unknown[] = [];
    const reply = await retry(() => impatient.heartbeat({ id: fake.runnerId, status: 'busy', runs: [] }), {
      policy: FAST_RETRY,
      onRetry: (err) => errors.push(err),
    });
    expect(reply.status).toBe('ok');
    expect(errors).toEqual([expect.objectContaining({ name: 'NetworkError', code: 'ETIMEDOUT' })]);
  });
});
