import { randomBytes } from 'node:crypto';
import { packChunk, unpackChunk } from './log-codec';

describe('log chunk storage', () => {
  const log = Buffer.from(
    Array.from({ length: 400 }, (_, i) => `2026-11-23T09:00:${String(i % 60).padStart(2, '0')}Z step ${i} ok in ${i * 7} ms\n`).join(''),
  );

  it('deflates a compressible chunk and reads it back byte for byte', async () => {
    const packed = await packChunk(log);
    expect(packed.deflated).toBe(true);
    expect(packed.data.length).toBeLessThan(log.length / 2);
    expect(unpackChunk(packed.data, packed.deflated).equals(log)).toBe(true);
  });

  it('keeps small and incompressible chunks as they are', async () => {
    const small = Buffer.from('hello\n');
    expect(await packChunk(small)).toEqual({ data: small, deflated: false });
    const noise = randomBytes(8192);
    const packed = await packChunk(noise);
    expect(packed.deflated).toBe(false);
    expect(unpackChunk(packed.data, packed.deflated)).toBe(noise);
  });
});
