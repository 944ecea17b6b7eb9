import { LogBuffer, LogGapError, lineText } from './buffer';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const texts = (b: LogBuffer): string[] => b.lines.map(lineText);

describe('LogBuffer', () => {
  it('splits lines, keeping a growing last line', () => {
    const b = new LogBuffer();
    b.pushBytes(enc('one\ntw'));
    expect(texts(b)).toEqual(['one', 'tw']);
    b.pushBytes(enc('o\nthree\n'));
    expect(texts(b)).toEqual(['one', 'two', 'three']);
    expect(b.end).toBe(14);
  });

  it('keeps empty lines', () => {
    const b = new LogBuffer();
    b.pushBytes(enc('a\n\n\nb\n'));
    expect(texts(b)).toEqual(['a', '', '', 'b']);
  });

  it('collapses \\r progress to its last state, across chunks, and treats \\r\\n as a line end', () => {
    const b = new LogBuffer();
    b.pushBytes(enc('progress 10%\rprogress 50%\r'));
    expect(texts(b)).toEqual(['progress 50%']);
    b.pushBytes(enc('progress 100%\ndone\r'));
    b.pushBytes(enc('\nnext\r\n'));
    expect(texts(b)).toEqual(['progress 100%', 'done', 'next']);
  });

  it('decodes a UTF-8 character split between chunks', () => {
    const bytes = enc('héllo ✓ 🎉\n');
    const b = new LogBuffer();
    for (let i = 0; i < bytes.length; i++) b.pushBytes(bytes.subarray(i, i + 1));
    expect(texts(b)).toEqual(['héllo ✓ 🎉']);
    expect(b.end).toBe(bytes.length);
  });

  it('keeps colours across chunk and line boundaries, and merges runs of one style', () => {
    const b = new LogBuffer();
    b.pushBytes(enc('\x1b[3'));
    b.pushBytes(enc('2mgreen '));
    b.pushBytes(enc('still\nnext\x1b[0m plain\n'));
    expect(b.lines[0].spans).toEqual([{ text: 'green still', cls: 'f2' }]);
    expect(b.lines[1].spans).toEqual([
      { text: 'next', cls: 'f2' },
      { text: ' plain', cls: '' },
    ]);
  });

  it('never doubles bytes it already holds and refuses a gap', () => {
    const b = new LogBuffer();
    b.pushBytes(enc('abc\n'), 0);
    b.pushBytes(enc('abc\ndef\n'), 0); // a resend from 0 after a reconnect
    expect(texts(b)).toEqual(['abc', 'def']);
    expect(() => b.pushBytes(enc('x'), 20)).toThrow(LogGapError);
  });

  it('takes SSE text with its byte range, trimming an overlap by bytes', () => {
    const b = new LogBuffer();
    b.pushText('né\n', 0, 4);
    b.pushText('né\nok\n', 0, 7);
    b.pushText('ok\n', 4, 7);
    expect(texts(b)).toEqual(['né', 'ok']);
    expect(b.end).toBe(7);
  });

  it('opens on a tail from a whole line, skipping the partial first line and any half character', () => {
    const whole = enc('first ✓ line\nsecond\nthird\n');
    const from = 8; // inside the ✓ (bytes 6..8)
    const b = new LogBuffer({ from });
    b.pushBytes(whole.subarray(from, 15));
    b.pushBytes(whole.subarray(15));
    expect(texts(b)).toEqual(['second', 'third']);
    expect(b.start).toBe(15); // just past the first \n
    expect(b.fromStart).toBe(false);
  });

  it('keeps exact offsets when an SSE tail starts inside a character (the server sends U+FFFD for it)', () => {
    const whole = enc('ab✓cd\nnext\n'); // ✓ is bytes 2..4
    const from = 3;
    const b = new LogBuffer({ from });
    const text = new TextDecoder().decode(whole.subarray(from, 10)); // '\uFFFD\uFFFDcd\nne'
    b.pushText(text, from, 10);
    b.pushText('xt\n', 10, 13);
    expect(texts(b)).toEqual(['next']);
    expect(b.start).toBe(8); // just past the \n at byte 7
    expect(b.end).toBe(13);
  });

  it('prepends earlier lines ("Load earlier") and becomes whole at byte 0', () => {
    const whole = enc('a\nb\nc\nd\n');
    const tail = new LogBuffer({ from: 3 });
    tail.pushBytes(whole.subarray(3));
    expect(texts(tail)).toEqual(['c', 'd']);
    const earlier = new LogBuffer({ from: 0 });
    earlier.pushBytes(whole.subarray(0, tail.start));
    tail.prepend(earlier);
    expect(texts(tail)).toEqual(['a', 'b', 'c', 'd']);
    expect(tail.fromStart).toBe(true);
  });

  it('holds 100,000 lines', () => {
    const b = new LogBuffer();
    const chunk = Array.from({ length: 1000 }, (_, i) => `\x1b[32mline\x1b[0m ${i}`).join('\n') + '\n';
    for (let i = 0; i < 100; i++) b.pushBytes(enc(chunk));
    expect(b.lines.length).toBe(100000);
  });
});
