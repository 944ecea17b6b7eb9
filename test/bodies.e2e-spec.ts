import { startPulse, TestPulse } from './support/pulse';
import { submit, TestRunner } from './support/protocol';

/** SPEC section 13: curl users send `Content-Type: application/json` on every call, bodiless ones included. */
describe('empty bodies with a JSON content type', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse();
  });
  afterAll(() => pulse.close());

  const json = { 'Content-Type': 'application/json' };

  it('are accepted by every route that takes no body', async () => {
    const { runs, batch_id } = await submit(pulse, { namespace: 'bodies', repos: ['https://example.com/a.git', 'https://example.com/b.git'] }, [
      'https://example.com/a.git',
      'https://example.com/b.git',
    ]);
    const canceled = await pulse.http.delete(`/api/runs/${runs[0]}`).set(pulse.admin).set(json).send('');
    expect(canceled.status).toBe(200);
    expect(canceled.body.state).toBe('canceled');
    await pulse.http.delete(`/api/batches/${batch_id}`).set(pulse.admin).set(json).send('').expect((res) => expect(res.status).toBeLessThan(300));

    const runner = await TestRunner.register(pulse);
    await pulse.http.post(`/api/runners/${runner.id}/disable`).set(pulse.admin).set(json).send('').expect(200);
    await pulse.http.post(`/api/runners/${runner.id}/enable`).set(pulse.admin).set(json).send('').expect(200);
    // Whitespace only is no body either.
    await pulse.http.delete(`/api/runners/${runner.id}`).set(pulse.admin).set(json).send(' \n').expect((res) => expect(res.status).toBeLessThan(300));

    await pulse.http.put('/api/namespaces').set(pulse.admin).send({ namespace_name: 'gone-ns', repositories: [] });
    await pulse.http.delete('/api/namespaces/gone-ns').set(pulse.admin).set(json).send('').expect((res) => expect(res.status).toBeLessThan(300));
  });

  it('still refuses a malformed body (400) and a missing one where a body is needed (400)', async () => {
    const malformed = await pulse.http.post('/api/runs').set(pulse.admin).set(json).send('{"namespace": ');
    expect(malformed.status).toBe(400);
    const poisoned = await pulse.http.post('/api/runs').set(pulse.admin).set(json).send('{"__proto__": {"x": 1}}');
    expect(poisoned.status).toBe(400);
    const empty = await pulse.http.post('/api/runs').set(pulse.admin).set(json).send('');
    expect(empty.status).toBe(400);
    const runner = await TestRunner.register(pulse);
    const beat = await pulse.http.post('/api/runner/heartbeat').set(runner.auth).set(json).send('');
    expect(beat.status).toBe(400);
  });
});
