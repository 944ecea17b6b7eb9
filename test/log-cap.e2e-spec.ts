/**
 * Head and tail past LOG_MAX_BYTES (SPEC section 13): a log three times the cap keeps its first
 * half and its last half with one marker line between that says how many bytes were dropped;
 * positions keep counting every byte, the run's `logs` is that count, and `logBytes` at complete
 * is checked against it exactly.
 */
import { startPulse, TestPulse } from './support/pulse';
import { submit, TestRunner } from './support/protocol';
import { SseClient } from './support/sse';

const CAP = 1024;
const MARKER = /\n\[pulse\] (\d+) bytes of this log were dropped here[^\n]*\n/;

describe('log head and tail past LOG_MAX_BYTES', () => {
  let pulse: TestPulse;

  beforeAll(async () => {
    pulse = await startPulse({ LOG_MAX_BYTES: String(CAP) });
  });
  afterAll(() => pulse.close());

  const text = Array.from({ length: (3 * CAP) / 16 }, (_, i) => `log line: ${String(i).padStart(5, '0')}\n`).join('');

  async function log(id: string, offset?: number): Promise<string> {
    const res = await pulse.http.get(`/api/runs/${id}/logs${offset === undefined ? '' : `?offset=${offset}`}`).set(pulse.admin).expect(200);
    return res.text;
  }

  async function follow(id: string, offset = 0): Promise<string> {
    const res = await fetch(`${pulse.url}/api/runs/${id}/logs?follow=1&offset=${offset}`, { headers: pulse.admin });
    return res.text();
  }

  it('a 3 × LOG_MAX_BYTES log read whole, from before, inside and after the gap, and followed', async () => {
    expect(text.length).toBe(3 * CAP);
    const runner = await TestRunner.register(pulse, { labels: ['cap'] });
    await submit(pulse, { namespace: 'cap', labels: ['cap'] });
    const run = (await runner.heartbeat()).run!;
    const live = follow(run.id);
    for (let pos = 0; pos < text.length; pos += 128) {
      const res = await runner.update(run, pos, text.slice(pos, pos + 128)).expect(200);
      expect(res.body.offset).toBe(Math.min(text.length, pos + 128));
    }
    // logBytes is checked exactly against every byte sent.
    await runner.complete(run, { status: 'finished', exitCode: 0, logBytes: text.length }).expect(200);
    expect((await pulse.http.get(`/api/runs/${run.id}`).set(pulse.admin)).body.logs).toBe(3 * CAP);

    const whole = await log(run.id);
    const m = MARKER.exec(whole)!;
    expect(m).not.toBeNull();
    const head = whole.slice(0, m.index);
    const tail = whole.slice(m.index + m[0].length);
    expect(head).toBe(text.slice(0, CAP / 2));
    expect(tail.length).toBeGreaterThanOrEqual(CAP / 2);
    expect(text.endsWith(tail)).toBe(true);
    expect(Number(m[1])).toBe(text.length - head.length - tail.length);
    expect(whole.match(/bytes of this log were dropped/g)).toHaveLength(1);

    expect(await log(run.id, 100)).toBe(text.slice(100, CAP / 2) + m[0] + tail); // before the gap
    expect(await log(run.id, CAP + 10)).toBe(m[0] + tail); // inside it: from the marker
    expect(await log(run.id, text.length - 100)).toBe(text.slice(-100)); // after it
    expect(await log(run.id, text.length)).toBe('');

    // The live follower read as the log grew: it starts with the head and ends with the tail,
    // and whatever it missed (if it fell behind) is replaced by one marker line.
    const followed = await live;
    expect(followed.startsWith(text.slice(0, CAP / 2))).toBe(true);
    expect(followed.endsWith(tail)).toBe(true);
    const gap = MARKER.exec(followed);
    if (gap) expect(text.endsWith(followed.slice(gap.index + gap[0].length))).toBe(true);
    else expect(followed).toBe(text);
    // Followed after the end: the same as a plain read, from any position.
    expect(await follow(run.id)).toBe(whole);
    expect(await follow(run.id, CAP + 10)).toBe(m[0] + tail);

    // The SSE follow (SPEC section 8) names positions: the marker's frame stands for the dropped
    // range, so its id resumes after the gap, and every frame's offset is a position of the log.
    const sse = await SseClient.open(`${pulse.url}/api/runs/${run.id}/logs?follow=1`, pulse.admin);
    await sse.waitFor((c) => c.ended, 20000, 'the end frame');
    const frames = sse.frames.filter((f) => f.event === 'log').map((f) => ({ id: Number(f.id), ...(JSON.parse(f.data!) as { offset: number; text: string }) }));
    expect(frames.map((f) => f.text).join('')).toBe(whole);
    const marker = frames.find((f) => MARKER.test(f.text))!;
    expect(marker.text).toBe(m[0]);
    expect(marker.id).toBe(text.length - tail.length);
    for (const [i, f] of frames.entries()) {
      if (f !== marker) expect(f.id - f.offset).toBe(Buffer.byteLength(f.text));
      if (i > 0) expect(f.offset).toBe(frames[i - 1].id);
    }
    expect(sse.frames.at(-1)).toMatchObject({ event: 'end', data: JSON.stringify({ state: 'finished' }) });
    const resumed = await SseClient.open(`${pulse.url}/api/runs/${run.id}/logs?follow=1`, { ...pulse.admin, 'Last-Event-ID': String(marker.id) });
    await resumed.waitFor((c) => c.ended, 20000, 'the end frame');
    const rest = resumed.frames.filter((f) => f.event === 'log').map((f) => (JSON.parse(f.data!) as { text: string }).text).join('');
    expect(rest).toBe(tail);
  });
});
