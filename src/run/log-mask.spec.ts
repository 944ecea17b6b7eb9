import { maskValues, SecretScan } from './log-mask';

const secret = (name: string, value: string): { name: string; value: Buffer } => ({ name, value: Buffer.from(value) });

describe('maskValues', () => {
  it('overwrites every occurrence with one * per byte, lengths unchanged', () => {
    const r = maskValues(Buffer.alloc(0), Buffer.from('a hunter22 b hunter22'), [secret('PW', 'hunter22')]);
    expect(r.bytes.toString()).toBe('a ******** b ********');
    expect(r.found).toEqual(['PW']);
    expect(r.firstChanged).toBe(2);
  });

  it('finds a value cut between the stored tail and the new chunk', () => {
    const r = maskValues(Buffer.from('xx hunt'), Buffer.from('er22 yy'), [secret('PW', 'hunter22')]);
    expect(r.bytes.toString()).toBe('xx ******** yy');
    expect(r.firstChanged).toBe(3);
  });

  it('masks overlapping occurrences and several secrets', () => {
    const r = maskValues(Buffer.alloc(0), Buffer.from('abababab-ab|cdefghij'), [secret('A', 'ababab'), secret('C', 'cdefghij')]);
    expect(r.bytes.toString()).toBe('********-ab|********');
    expect(r.found).toEqual(['A', 'C']);
  });

  it('leaves a log without secrets alone', () => {
    const r = maskValues(Buffer.from('tail'), Buffer.from('nothing here'), [secret('PW', 'hunter22')]);
    expect(r.bytes.toString()).toBe('tailnothing here');
    expect(r.found).toEqual([]);
    expect(r.firstChanged).toBe(Infinity);
  });
});

describe('SecretScan', () => {
  it('finds a value in the chunk, across the stored tail and the chunk, and not one wholly inside the tail', () => {
    const scan = new SecretScan([secret('PW', 'hunter22'), secret('K', 'key-0123456789')]);
    expect(scan.longest).toBe(14);
    expect(scan.occursIn(Buffer.alloc(0), Buffer.from('a log line with hunter22 in it'))).toBe(true);
    expect(scan.occursIn(Buffer.from('xx hunt'), Buffer.from('er22 yy'))).toBe(true);
    expect(scan.occursIn(Buffer.from('key-01234'), Buffer.from('56789'))).toBe(true);
    expect(scan.occursIn(Buffer.from('hunter22'), Buffer.from(' and nothing after'))).toBe(false);
    expect(scan.occursIn(Buffer.from('tail'), Buffer.from('nothing here, hunter2 key-012345678'))).toBe(false);
    expect(scan.occursIn(Buffer.from('hunter2'), Buffer.alloc(0))).toBe(false);
  });

  it('finds a value at the very start and the very end of the chunk', () => {
    const scan = new SecretScan([secret('PW', 'hunter22')]);
    expect(scan.occursIn(Buffer.from('x'), Buffer.from('hunter22'))).toBe(true);
    expect(scan.occursIn(Buffer.alloc(0), Buffer.from(`${'.'.repeat(1000)}hunter22`))).toBe(true);
    expect(scan.occursIn(Buffer.alloc(0), Buffer.from(`${'.'.repeat(1000)}hunter2`))).toBe(false);
  });

  it('says yes exactly where maskValues finds something (random logs, values, tails)', () => {
    let x = 42;
    const rnd = (n: number): number => {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      return x % n;
    };
    // A small alphabet, so values do occur, cut at every place, and overlap one another.
    const text = (n: number, alphabet: string): string => Array.from({ length: n }, () => alphabet[rnd(alphabet.length)]).join('');
    let yes = 0;
    for (let round = 0; round < 3000; round++) {
      const alphabet = round % 3 === 0 ? 'ab' : round % 3 === 1 ? 'abc' : 'abcdefgh\n';
      const secrets = Array.from({ length: 1 + rnd(4) }, (_, k) => secret(`S${k}`, text(1 + rnd(round % 2 === 0 ? 12 : 4), alphabet)));
      const scan = new SecretScan(secrets);
      const tail = Buffer.from(text(rnd(scan.longest), alphabet));
      const chunk = Buffer.from(text(rnd(200), alphabet));
      const expected = maskValues(tail, chunk, secrets).found.length > 0;
      expect([round, scan.occursIn(tail, chunk)]).toEqual([round, expected]);
      if (expected) yes++;
    }
    expect(yes).toBeGreaterThan(300);
    expect(yes).toBeLessThan(2700);
  });

  it('knows no value when a run has none', () => {
    const scan = new SecretScan([]);
    expect(scan.longest).toBe(0);
    expect(scan.occursIn(Buffer.from('abc'), Buffer.from('def'))).toBe(false);
  });
});
