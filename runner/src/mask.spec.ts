import { execFileSync } from 'node:child_process';
import { MASK, Masker, maskAll, maskPatterns, secretForms } from './mask';

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Streams `log` through a masker in the given write sizes; checks the held tail's bound. */
function streamed(log: Buffer, patterns: Buffer[], cuts: number[]): Buffer {
  const masker = new Masker(patterns);
  const out: Buffer[] = [];
  let at = 0;
  let held = 0;
  for (const cut of [...cuts, log.length]) {
    if (cut < at) continue;
    out.push(Buffer.from(masker.write(log.subarray(at, cut))));
    held = Math.max(held, masker.holding);
    at = cut;
  }
  expect(held).toBeLessThanOrEqual(Math.max(0, masker.longest - 1));
  out.push(masker.end());
  return Buffer.concat(out);
}

const str = (b: Buffer): string => b.toString('utf8');

/**
 * The definition, written as plainly as possible and independent of the masker's machinery:
 * from the left, replace the longest pattern that starts at each position, else keep the byte.
 */
function reference(log: Buffer, patterns: Buffer[]): Buffer {
  const out: Buffer[] = [];
  let plain = 0;
  let i = 0;
  while (i < log.length) {
    let best = 0;
    for (const p of patterns) {
      if (p.length > best && p.length > 0 && i + p.length <= log.length && log.compare(p, 0, p.length, i, i + p.length) === 0) best = p.length;
    }
    if (best > 0) {
      out.push(log.subarray(plain, i), MASK);
      i += best;
      plain = i;
    } else {
      i++;
    }
  }
  out.push(log.subarray(plain));
  return Buffer.concat(out);
}

describe('Masker', () => {
  it('streaming output equals masking the whole log at once, for thousands of random splits', () => {
    const alphabet = ['a', 'b', 'c', 'ab', '\n', 'é', 'x'];
    let checked = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const rand = prng(seed);
      const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
      const word = (min: number, max: number): string => {
        let w = '';
        const n = min + Math.floor(rand() * (max - min + 1));
        while (Buffer.byteLength(w) < n) w += pick(alphabet);
        return w;
      };
      // Overlapping and self-overlapping secrets: a shared alphabet, repeated starts, prefixes of each other.
      // Even seeds: longer secrets, so the masker's window skips are long too.
      const long = seed % 2 === 0;
      const base = long ? word(4, 9) : word(2, 6);
      const secrets = [base + base + word(0, 3), long ? word(8, 20) : word(3, 10), base.repeat(3), base + word(long ? 4 : 1, long ? 8 : 4)];
      const patterns = secrets.map((s) => Buffer.from(s));
      let text = '';
      for (let k = 0; k < 30; k++) text += rand() < 0.3 ? pick(secrets) : word(0, 12);
      const log = Buffer.from(text);
      const expected = reference(log, patterns);
      expect(str(maskAll(log, patterns))).toBe(str(expected));
      for (let split = 0; split < 10; split++) {
        const cuts: number[] = [];
        for (let c = 0; c < 1 + Math.floor(rand() * 12); c++) cuts.push(Math.floor(rand() * (log.length + 1)));
        cuts.sort((x, y) => x - y);
        expect(str(streamed(log, patterns, cuts))).toBe(str(expected));
        checked++;
      }
      // One byte per write, the hardest split of all.
      expect(str(streamed(log, patterns, [...Array(log.length).keys()]))).toBe(str(expected));
    }
    expect(checked).toBe(4000);
  });

  it('with a hundred secrets (hundreds of patterns, most of the skip table taken), streaming equals the definition', () => {
    const rand = prng(7);
    const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const word = (n: number, from = letters): string => Array.from({ length: n }, () => from[Math.floor(rand() * from.length)]).join('');
    for (let round = 0; round < 6; round++) {
      // Values of 12 to 40 bytes of a 64-letter alphabet (long skips), or of 4 to 32 of a 4-letter one (many
      // near-misses); some share their first three bytes.
      const from = round % 2 === 0 ? letters : 'abcd';
      const values = Array.from({ length: 100 }, () => word((round % 2 === 0 ? 12 : 4) + Math.floor(rand() * 29), from));
      for (let k = 0; k < 10; k++) values.push(values[k].slice(0, 3) + word(6, from));
      const patterns = maskPatterns(values);
      let text = '';
      while (text.length < 8_000) text += rand() < 0.05 ? values[Math.floor(rand() * values.length)] : word(1 + Math.floor(rand() * 40), rand() < 0.5 ? from : letters + ' \n');
      const log = Buffer.from(text);
      const expected = str(reference(log, patterns));
      expect(str(maskAll(log, patterns))).toBe(expected);
      const cuts = Array.from({ length: 20 }, () => Math.floor(rand() * (log.length + 1))).sort((x, y) => x - y);
      expect(str(streamed(log, patterns, cuts))).toBe(expected);
    }
  });

  it('finds a secret whose start repeats inside it, with a write boundary at every position', () => {
    const secret = 'abababac-secret';
    const log = Buffer.from(`xx ababababababac-secret yy abababac-secret`);
    for (let cut = 0; cut <= log.length; cut++) {
      expect(str(streamed(log, [Buffer.from(secret)], [cut]))).toBe('xx ababab[MASKED] yy [MASKED]');
    }
  });

  it('prefers the longest pattern that starts at a position, and never masks inside a match', () => {
    const patterns = [Buffer.from('password'), Buffer.from('password123'), Buffer.from('word123x')];
    expect(str(maskAll(Buffer.from('a password1234 b password12 c'), patterns))).toBe('a [MASKED]4 b [MASKED]12 c');
    for (let cut = 0; cut < 20; cut++) {
      expect(str(streamed(Buffer.from('a password1234 b'), patterns, [cut]))).toBe('a [MASKED]4 b');
    }
  });

  it('holds back only a tail that could still start a secret, and flushes it at the end', () => {
    const masker = new Masker([Buffer.from('s3cr3t-value')]);
    expect(str(masker.write(Buffer.from('hello s3cr')))).toBe('hello ');
    expect(masker.holding).toBe(4);
    expect(str(masker.write(Buffer.from('3t')))).toBe('');
    expect(masker.holding).toBe(6);
    expect(str(masker.write(Buffer.from('x')))).toBe('s3cr3tx');
    expect(str(masker.write(Buffer.from('no secret here')))).toBe('no secret here');
    expect(str(masker.write(Buffer.from('tail s3')))).toBe('tail ');
    expect(str(masker.end())).toBe('s3');
  });

  it('masks a secret cut across the 1 MiB point of a very long line', () => {
    const secret = 'LONG-LINE-SECRET-0123456789';
    const pad = 'z'.repeat(1024 * 1024 - 10);
    const log = Buffer.from(`${pad}${secret}${pad}\n`);
    const cuts = [64 * 1024, 1024 * 1024, 1024 * 1024 + 3, 2 * 1024 * 1024];
    expect(str(streamed(log, maskPatterns([secret]), cuts))).toBe(`${pad}[MASKED]${pad}\n`);
  });

  it('masks the printed forms: lines, base64 (as base64(1) prints it), URL- and JSON-encoded', () => {
    const value = 'p@ss w0rd/"quoted"\\é+=&?\nsecond-line-of-it\nshort\nthird line, long enough to wrap base64 at 76 columns';
    const patterns = maskPatterns([value]);
    const shell = (cmd: string): string => execFileSync('bash', ['-c', cmd], { env: { S: value, PATH: process.env.PATH ?? '' } }).toString();
    const printed = [
      value,
      shell('echo "$S" | base64'),
      shell('printf %s "$S" | base64'),
      shell('echo "$S" | base64 -w0'),
      encodeURIComponent(value),
      JSON.stringify({ token: value }),
    ];
    for (const form of printed) {
      const out = str(maskAll(Buffer.from(`before ${form} after`), patterns));
      expect(out).toMatch(/^before .*\[MASKED\].* after$/s);
      expect(out).not.toContain('second-line-of-it');
      expect(out).not.toContain(Buffer.from(value).toString('base64').slice(0, 40));
      expect(out).not.toContain(encodeURIComponent(value).slice(0, 20));
    }
    // Each line of 8 bytes or more on its own; shorter lines are left alone.
    expect(str(maskAll(Buffer.from('second-line-of-it short'), patterns))).toBe('[MASKED] short');
    expect(secretForms(value)).toContain(JSON.stringify(value).slice(1, -1));
  });

  it('is a pass-through with no secrets, and MASK is what replaces one', () => {
    const masker = new Masker([]);
    expect(str(masker.write(Buffer.from('anything')))).toBe('anything');
    expect(str(masker.end())).toBe('');
    expect(str(MASK)).toBe('[MASKED]');
  });
});
