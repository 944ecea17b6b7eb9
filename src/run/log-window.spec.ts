import { assemble, logWindow, place, StoredPiece } from './log-window';

/** Appends `text` in pieces of `step` bytes the way LogService stores them; returns what stays stored. */
function simulate(cap: number, text: string, step: number): StoredPiece[] {
  const w = logWindow(cap);
  let stored: StoredPiece[] = [];
  const bytes = Buffer.from(text);
  for (let pos = 0; pos < bytes.length; pos += step) {
    const data = bytes.subarray(pos, Math.min(bytes.length, pos + step));
    const placement = place(w, pos, data.length);
    for (const part of placement.parts) stored.push({ pos: pos + part.start, data: data.subarray(part.start, part.end) });
    const drop = placement.dropBefore;
    if (drop !== null) stored = stored.filter((p) => p.pos < w.head || p.pos + p.data.length > drop);
    stored.sort((a, b) => a.pos - b.pos);
  }
  return stored;
}

/** A read's bytes and where it reaches; its parts are checked against both (positions add up). */
function readAt(cap: number, stored: StoredPiece[], from: number): { data: Buffer; next: number } {
  const { data, next, parts } = assemble(logWindow(cap), stored.filter((p) => p.pos + p.data.length > from), from);
  expect(Buffer.concat(parts.map((p) => p.data))).toEqual(data);
  parts.forEach((p, i) => expect(p.pos).toBe(i === 0 ? Math.max(from, p.pos) : parts[i - 1].next));
  if (parts.length > 0) expect(parts.at(-1)!.next).toBe(next);
  return { data, next };
}

describe('log window (head and tail past LOG_MAX_BYTES)', () => {
  const text = Array.from({ length: 300 }, (_, i) => `line ${String(i).padStart(4, '0')}\n`).join(''); // 3000 bytes

  it('under the cap: everything, contiguous, from any offset', () => {
    const stored = simulate(4000, text, 70);
    expect(readAt(4000, stored, 0)).toEqual({ data: Buffer.from(text), next: 3000 });
    expect(readAt(4000, stored, 1234).data.toString()).toBe(text.slice(1234));
  });

  it('past the cap: first half, one marker with the dropped count, last half; storage bounded', () => {
    const cap = 1000;
    for (const step of [1, 37, 100, 499, 1000, 2500]) {
      const stored = simulate(cap, text, step);
      const kept = stored.reduce((n, p) => n + p.data.length, 0);
      expect(kept).toBeLessThanOrEqual(cap + step);
      const whole = readAt(cap, stored, 0);
      expect(whole.next).toBe(3000);
      const out = whole.data.toString();
      const m = /\n\[pulse\] (\d+) bytes of this log were dropped here[^\n]*\n/.exec(out);
      expect(m).not.toBeNull();
      const [before, after] = [out.slice(0, m!.index), out.slice(m!.index + m![0].length)];
      expect(before).toBe(text.slice(0, 500));
      expect(text.endsWith(after)).toBe(true);
      expect(after.length).toBeGreaterThanOrEqual(500);
      expect(Number(m![1])).toBe(3000 - 500 - after.length);
      // From inside the gap: the marker, then the tail. From the tail: exact bytes, no marker.
      const inside = readAt(cap, stored, 1500).data.toString();
      expect(inside.startsWith('\n[pulse] ')).toBe(true);
      expect(inside.endsWith(after)).toBe(true);
      expect(readAt(cap, stored, 2800).data.toString()).toBe(text.slice(2800));
      // Before the gap, inside the head: the rest of the head, the marker, the tail.
      expect(readAt(cap, stored, 100).data.toString()).toBe(text.slice(100, 500) + m![0] + after);
    }
  });
});
