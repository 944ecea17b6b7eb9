import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { LogSpool, boundaryBefore } from './log-spool';
import { cleanTempDirs, tempDir } from './test-support/helpers';

afterAll(cleanTempDirs);

async function spoolWith(...writes: Buffer[]): Promise<LogSpool> {
  const dir = tempDir();
  const spool = await LogSpool.create(dir);
  for (const bytes of writes) {
    appendFileSync(join(dir, 'output.raw'), bytes);
    await spool.ingest();
  }
  return spool;
}

describe('LogSpool', () => {
  it("masks the run's secrets before the log is cut, holding back only what could start one", async () => {
    const dir = tempDir();
    const spool = await LogSpool.create(dir, ['hunter2-secret']);
    const write = async (text: string): Promise<void> => {
      appendFileSync(join(dir, 'output.raw'), text);
      await spool.ingest();
    };
    await write('login with hunt');
    expect((await spool.read(0, 100)).text).toBe('login with ');
    await write('er2-secret ok\nnext hunter');
    expect((await spool.read(0, 100)).text).toBe('login with [MASKED] ok\nnext ');
    await spool.finish();
    expect((await spool.read(0, 100)).text).toBe('login with [MASKED] ok\nnext hunter');
    expect(spool.size).toBe(Buffer.byteLength('login with [MASKED] ok\nnext hunter'));
    await spool.close();
  });

  it('decodes a character split between two writes of the process', async () => {
    const euro = Buffer.from('€', 'utf8'); // 3 bytes
    const spool = await spoolWith(Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]), euro.subarray(1));
    await spool.finish();
    expect((await spool.read(0, 100)).text).toBe('a€');
    expect(spool.size).toBe(4);
    await spool.close();
  });

  it('never cuts a chunk inside a multi-byte character', async () => {
    const text = 'é€😀'.repeat(50);
    const spool = await spoolWith(Buffer.from(text));
    await spool.finish();
    let offset = 0;
    let rebuilt = '';
    for (const max of [1, 2, 5, 7, 11]) {
      const chunk = await spool.read(offset, max);
      expect(Buffer.byteLength(chunk.text)).toBe(chunk.bytes);
      expect(chunk.text).not.toContain('\uFFFD');
      expect(chunk.bytes).toBeGreaterThan(0);
      rebuilt += chunk.text;
      offset += chunk.bytes;
    }
    while (offset < spool.size) {
      const chunk = await spool.read(offset, 13);
      expect(chunk.bytes).toBeLessThanOrEqual(13);
      rebuilt += chunk.text;
      offset += chunk.bytes;
    }
    expect(rebuilt).toBe(text);
    await spool.close();
  });

  it('replaces invalid UTF-8 and counts the bytes of what it will send', async () => {
    const spool = await spoolWith(Buffer.from([0x6f, 0x6b, 0xff, 0x0a, 0xe2, 0x82])); // "ok", junk, "\n", truncated "€"
    await spool.finish();
    const chunk = await spool.read(0, 1000);
    expect(chunk.text).toBe('ok\uFFFD\n\uFFFD');
    expect(spool.size).toBe(Buffer.byteLength(chunk.text));
    expect(chunk.bytes).toBe(spool.size);
    await spool.close();
  });

  it('puts runner notes in the same stream as the output', async () => {
    const dir = tempDir();
    const spool = await LogSpool.create(dir);
    appendFileSync(join(dir, 'output.raw'), 'before\n');
    spool.note('stopping');
    appendFileSync(join(dir, 'output.raw'), 'after\n');
    await spool.finish();
    expect((await spool.read(0, 1000)).text).toBe('before\npulse-runner: stopping\nafter\n');
    await spool.close();
  });

  it('finds the boundary before an incomplete trailing character', () => {
    const bytes = Buffer.from('a😀', 'utf8'); // 1 + 4 bytes
    expect(boundaryBefore(bytes, 5)).toBe(5);
    expect(boundaryBefore(bytes, 4)).toBe(1);
    expect(boundaryBefore(bytes, 2)).toBe(1);
    expect(boundaryBefore(bytes, 1)).toBe(1);
  });
});
