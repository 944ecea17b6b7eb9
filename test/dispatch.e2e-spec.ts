import { startPulse, TestPulse } from './support/pulse';
import { submit, TestRunner } from './support/protocol';

/** SPEC section 4: which run goes to which runner, and in what order. */
describe('dispatch rules', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse();
  });
  afterAll(() => pulse.close());

  async function state(id: string): Promise<string> {
    return (await pulse.http.get(`/api/runs/${id}`).set(pulse.admin).expect(200)).body.state as string;
  }

  it('labels must be a subset of the runner labels', async () => {
    const { runs } = await submit(pulse, { namespace: 'lab', labels: ['lab-linux', 'lab-gpu'] });
    const linuxOnly = await TestRunner.register(pulse, { labels: ['lab-linux'] });
    expect((await linuxOnly.heartbeat()).run).toBeUndefined();
    const both = await TestRunner.register(pulse, { labels: ['lab-linux', 'lab-gpu', 'extra'] });
    expect((await both.heartbeat()).run?.id).toBe(runs[0]);
  });

  it('a framework must equal the runner framework name', async () => {
    const { runs } = await submit(pulse, { namespace: 'fw', labels: ['fw'], framework: 'stryker' });
    const shell = await TestRunner.register(pulse, { labels: ['fw'], framework: { name: 'shell', version: '1' } });
    expect((await shell.heartbeat()).run).toBeUndefined();
    const stryker = await TestRunner.register(pulse, { labels: ['fw'], framework: { name: 'stryker', version: '9' } });
    expect((await stryker.heartbeat()).run?.id).toBe(runs[0]);
  });

  it('resources must fit the runner maximum; a runner that declares none takes any size', async () => {
    const { runs } = await submit(pulse, { namespace: 'res', labels: ['res'], resources: { cpu: 4, memory: 8192, disk: 100 } });
    const small = await TestRunner.register(pulse, { labels: ['res'], resources: { cpu: 2, memory: 16384, disk: 1000 } });
    expect((await small.heartbeat()).run).toBeUndefined();
    const detail = (await pulse.http.get(`/api/runs/${runs[0]}`).set(pulse.admin)).body;
    expect(detail.pending_reason).toMatch(/no registered runner/i); // the only 'res' runner is too small
    const big = await TestRunner.register(pulse, { labels: ['res'], resources: { cpu: 8, memory: 16384, disk: 1000 } });
    expect((await big.heartbeat()).run?.id).toBe(runs[0]);
  });

  it('pending_reason says why no registered runner can ever match', async () => {
    const { runs } = await submit(pulse, { namespace: 'nobody', labels: ['no-runner-has-this-label'] });
    const detail = (await pulse.http.get(`/api/runs/${runs[0]}`).set(pulse.admin)).body;
    expect(detail.state).toBe('waiting');
    expect(detail.pending_reason).toMatch(/no registered runner/i);
  });

  it('higher priority first, then oldest first', async () => {
    const low = await submit(pulse, { namespace: 'prio', labels: ['prio'], priority: 0 });
    const high = await submit(pulse, { namespace: 'prio', labels: ['prio'], priority: 10 });
    const low2 = await submit(pulse, { namespace: 'prio', labels: ['prio'], priority: 0 });
    const order: string[] = [];
    for (let i = 0; i < 3; i++) {
      const runner = await TestRunner.register(pulse, { labels: ['prio'] });
      order.push((await runner.heartbeat()).run!.id);
    }
    expect(order).toEqual([high.runs[0], low.runs[0], low2.runs[0]]);
  });

  it('fair share: a namespace with 200 queued runs does not starve another one with a single run', async () => {
    const big = await submit(pulse, { namespace: 'fair-big', labels: ['fair'], repos: ['https://example.com/a.git'], jobs: Array.from({ length: 200 }, () => ({})) });
    const small = await submit(pulse, { namespace: 'fair-small', labels: ['fair'] });
    const first = await TestRunner.register(pulse, { labels: ['fair'] });
    const second = await TestRunner.register(pulse, { labels: ['fair'] });
    // Equal priority: the oldest namespace head goes first, then the namespace with fewer running runs.
    expect((await first.heartbeat()).run!.id).toBe(big.runs[0]);
    expect((await second.heartbeat()).run!.id).toBe(small.runs[0]);
    expect(await state(small.runs[0])).toBe('running');
  });

  it('fair share holds when many runners ask at once (their claims are taken together)', async () => {
    const label = 'burst';
    const jobs = (n: number) => ({ repos: ['https://example.com/a.git'], jobs: Array.from({ length: n }, () => ({})) });
    // A's runs are the oldest and two of them run already: oldest-first alone would give A every run.
    const a = await submit(pulse, { namespace: 'burst-a', labels: [label], ...jobs(20) });
    const early = await Promise.all([0, 1].map(() => TestRunner.register(pulse, { labels: [label] })));
    for (const r of early) expect(a.runs).toContain((await r.heartbeat()).run!.id);
    const b = await submit(pulse, { namespace: 'burst-b', labels: [label], ...jobs(20) });
    const c = await submit(pulse, { namespace: 'burst-c', labels: [label], ...jobs(20) });
    const runners = await Promise.all(Array.from({ length: 12 }, () => TestRunner.register(pulse, { labels: [label] })));
    const got = (await Promise.all(runners.map((r) => r.heartbeat()))).map((h) => h.run!.id);
    expect(new Set(got).size).toBe(12);
    const running = [a, b, c].map((s) => 2 * Number(s === a) + got.filter((id) => s.runs.includes(id)).length);
    // 14 running over three namespaces: 5, 5, 4 when the claims go one by one; two batches in
    // flight at once may each miss the other's picks, so allow one more either way.
    expect(Math.max(...running) - Math.min(...running)).toBeLessThanOrEqual(2);
    expect(running.reduce((x, y) => x + y)).toBe(14);
  });

  it('fair share run by run: fewer running first, then turns; priority before fair share; ties to the oldest', async () => {
    const jobs = (n: number) => ({ repos: ['https://example.com/a.git'], jobs: Array.from({ length: n }, () => ({})) });
    const take = async (label: string, n: number) => {
      const got: string[] = [];
      for (let i = 0; i < n; i++) got.push((await (await TestRunner.register(pulse, { labels: [label] })).heartbeat()).run!.id);
      return got;
    };
    // a runs 3 already and has 4 more waiting (the older ones); b runs none and has 5.
    const a = await submit(pulse, { namespace: 'turns-a', labels: ['turns'], ...jobs(7) });
    expect(await take('turns', 3)).toEqual(a.runs.slice(0, 3));
    const b = await submit(pulse, { namespace: 'turns-b', labels: ['turns'], ...jobs(5) });
    // Now one claim after another: b three times (fewer running), then turns, ties to the older run.
    expect(await take('turns', 7)).toEqual([b.runs[0], b.runs[1], b.runs[2], a.runs[3], b.runs[3], a.runs[4], b.runs[4]]);

    // A more urgent run goes first even from the namespace that runs more.
    const low = await submit(pulse, { namespace: 'urgent-a', labels: ['urgent'], priority: 0, ...jobs(2) });
    const high = await submit(pulse, { namespace: 'urgent-b', labels: ['urgent'], priority: 5, ...jobs(2) });
    expect(await take('urgent', 4)).toEqual([high.runs[0], high.runs[1], low.runs[0], low.runs[1]]);
  });

  it('a runner never holds two runs, and a run is never handed to two runners', async () => {
    const { runs } = await submit(pulse, { namespace: 'race', labels: ['race'], repos: ['https://example.com/a.git'], jobs: Array.from({ length: 30 }, () => ({})) });
    const runners = await Promise.all(Array.from({ length: 10 }, () => TestRunner.register(pulse, { labels: ['race'] })));
    // Every runner sends several ready heartbeats at once, without acknowledging.
    const answers = await Promise.all(runners.flatMap((r) => Array.from({ length: 4 }, () => r.heartbeat())));
    const byRunner = new Map<number, Set<string>>();
    answers.forEach((a, i) => {
      const who = Math.floor(i / 4);
      if (a.run) byRunner.set(who, (byRunner.get(who) ?? new Set()).add(a.run.id));
    });
    const held = [...byRunner.values()].map((s) => [...s]);
    for (const ids of held) expect(ids).toHaveLength(1); // re-offers of the same run only
    const all = held.flat();
    expect(new Set(all).size).toBe(all.length);
    expect(all.every((id) => runs.includes(id))).toBe(true);
    expect(all).toHaveLength(10);
  });
});
