import { maskValues } from './log-mask';

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
