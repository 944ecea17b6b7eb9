/**
 * Retention (SPEC section 13) with periods of seconds: logs of final runs are dropped after
 * LOG_RETENTION_DAYS (`logs_pruned`, 410), final runs and the batches they leave empty are deleted
 * after RUN_RETENTION_DAYS; waiting and running runs are never touched. On PostgreSQL two
 * orchestrator processes sweep the same database at once.
 */
import { eventually, spawnPulse, startPulse, TestPulse } from './support/pulse';
import { submit, TestRunner } from './support/protocol';

const DAY_S = 86400;
const LOG_S = 2;
const RUN_S = 6;

describe('retention', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse({ LOG_RETENTION_DAYS: String(LOG_S / DAY_S), RUN_RETENTION_DAYS: String(RUN_S / DAY_S) });
    if (pulse.kind === 'postgres') await pulse.spawnAnother();
  });
  afterAll(() => pulse.close());

  it('prunes logs, then deletes runs and empty batches; never a waiting or running run', async () => {
    const runner = await TestRunner.register(pulse, { labels: ['keep'] });
    const repos = ['https://example.com/a.git', 'https://example.com/b.git'];
    const done = await submit(pulse, { namespace: 'ret', labels: ['keep'], repos }, repos);
    const finished: string[] = [];
    for (let i = 0; i < 2; i++) {
      const run = (await runner.heartbeat()).run!;
      await runner.update(run, 0, `log of ${run.id}\n`).expect(200);
      await runner.complete(run, { status: 'finished', exitCode: 0 }).expect(200);
      finished.push(run.id);
    }
    // One run goes on running, one waits (no runner has its label): both stay.
    const running = await submit(pulse, { namespace: 'ret', labels: ['keep'] });
    const live = (await runner.heartbeat()).run!;
    expect(live.id).toBe(running.runs[0]);
    await runner.update(live, 0, 'still running\n').expect(200);
    const waiting = await submit(pulse, { namespace: 'ret', labels: ['nobody'] });

    // Logs first: the run stays, with logs_pruned, and its log answers 410.
    await eventually(async () => {
      const res = await pulse.http.get(`/api/runs/${finished[0]}`).set(pulse.admin);
      return res.status === 200 && res.body.logs_pruned === true;
    }, 30000);
    const gone = await pulse.http.get(`/api/runs/${finished[0]}/logs`).set(pulse.admin);
    if (gone.status !== 404) {
      expect(gone.status).toBe(410);
      expect(gone.body).toMatchObject({ statusCode: 410, error: 'Gone' });
      expect(gone.body.message).toMatch(/LOG_RETENTION_DAYS/);
    }

    // Then the runs, and their batch once all its runs are gone.
    await eventually(async () => {
      const statuses = await Promise.all(finished.map(async (id) => (await pulse.http.get(`/api/runs/${id}`).set(pulse.admin)).status));
      return statuses.every((s) => s === 404);
    }, 30000);
    await eventually(async () => (await pulse.http.get(`/api/batches/${done.batch_id}`).set(pulse.admin)).status === 404, 30000);

    // Still there: the running run with its log, the waiting run, and their batches.
    await runner.update(live, 14, 'and on\n').expect(200);
    const liveRun = await pulse.http.get(`/api/runs/${live.id}`).set(pulse.admin).expect(200);
    expect(liveRun.body).toMatchObject({ state: 'running', logs_pruned: false });
    expect((await pulse.http.get(`/api/runs/${live.id}/logs`).set(pulse.admin).expect(200)).text).toBe('still running\nand on\n');
    expect((await pulse.http.get(`/api/runs/${waiting.runs[0]}`).set(pulse.admin).expect(200)).body.state).toBe('waiting');
    await pulse.http.get(`/api/batches/${running.batch_id}`).set(pulse.admin).expect(200);

    // Once it is final, the running run follows the same path.
    await runner.complete(live, { status: 'finished', exitCode: 0 }).expect(200);
    await eventually(async () => (await pulse.http.get(`/api/runs/${live.id}`).set(pulse.admin)).status === 404, 30000);
    expect(pulse.proc.output()).not.toMatch(/sweep failed/);
    const metrics = await pulse.http.get('/metrics');
    expect(metrics.text).toMatch(/^# TYPE pulse_retention_deleted_total counter$/m); // the work may have been the other process's
  });

  it('refuses a bad retention setting at start-up, naming the variable', async () => {
    await expect(spawnPulse({ ...pulse.env, PORT: '0', LOG_RETENTION_DAYS: 'a week' })).rejects.toThrow(/LOG_RETENTION_DAYS must be a number of days/);
    await expect(spawnPulse({ ...pulse.env, PORT: '0', RUN_RETENTION_DAYS: '-1' })).rejects.toThrow(/RUN_RETENTION_DAYS/);
  });
});
