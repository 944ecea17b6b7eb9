import { utf8Boundary } from './log-sse';

describe('utf8Boundary', () => {
  it('keeps back the bytes of a character that is not complete', () => {
    const text = 'aé€😀';
    const bytes = Buffer.from(text);
    const ends = new Set([1, 3, 6, 10]); // after a, é, €, 😀
    for (let n = 0; n <= bytes.length; n++) {
      const cut = utf8Boundary(bytes.subarray(0, n));
      const expected = Math.max(0, ...[...ends, 0].filter((e) => e <= n));
      expect([n, cut]).toEqual([n, expected]);
      expect(bytes.subarray(0, cut).toString()).not.toContain('\uFFFD');
    }
  });

  it('never holds back more than a character, even for bytes that are not UTF-8', () => {
    expect(utf8Boundary(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80]))).toBe(5);
    expect(utf8Boundary(Buffer.alloc(0))).toBe(0);
  });
});
