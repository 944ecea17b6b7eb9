import { AnsiParser, paletteColor, type AnsiSink, type SpanStyle } from './ansi';

/** Records what the parser reports: text with its style, and line events. */
function collect(chunks: string[], parser = new AnsiParser()): Array<[string, SpanStyle] | string> {
  const out: Array<[string, SpanStyle] | string> = [];
  const sink: AnsiSink = {
    text: (t, s) => out.push([t, s]),
    newline: () => out.push('\\n'),
    carriageReturn: () => out.push('\\r'),
  };
  for (const c of chunks) parser.feed(c, sink);
  return out;
}

function styled(chunks: string[]): Array<[string, string]> {
  return collect(chunks)
    .filter((x): x is [string, SpanStyle] => Array.isArray(x))
    .map(([t, s]) => [t, [s.cls, s.fg && `fg:${s.fg}`, s.bg && `bg:${s.bg}`].filter(Boolean).join(' ')]);
}

describe('AnsiParser', () => {
  it('turns SGR colours and bold into styles and never shows the codes', () => {
    expect(styled(['plain \x1b[1;31mbold red\x1b[0m done'])).toEqual([
      ['plain ', ''],
      ['bold red', 'f1 bold'],
      [' done', ''],
    ]);
  });

  it('knows 30-37, 90-97, 39, backgrounds 40-47 and 49', () => {
    expect(styled(['\x1b[32mg\x1b[92mG\x1b[39md\x1b[44mB\x1b[49mx'])).toEqual([
      ['g', 'f2'],
      ['G', 'f10'],
      ['d', ''],
      ['B', 'b4'],
      ['x', ''],
    ]);
  });

  it('knows 38;5;n (themed below 16, a CSS colour above) and truecolor', () => {
    expect(styled(['\x1b[38;5;9ma\x1b[38;5;196mb\x1b[38;5;244mc\x1b[38;2;1;2;3md\x1b[48;5;21me'])).toEqual([
      ['a', 'f9'],
      ['b', 'fg:#ff0000'],
      ['c', 'fg:#808080'],
      ['d', 'fg:#010203'],
      ['e', `fg:#010203 bg:${paletteColor(21)}`],
    ]);
  });

  it('resets with an empty SGR and with 0, and 22 ends bold', () => {
    expect(styled(['\x1b[1;33ma\x1b[mb\x1b[1mc\x1b[22md'])).toEqual([
      ['a', 'f3 bold'],
      ['b', ''],
      ['c', 'bold'],
      ['d', ''],
    ]);
  });

  it('carries a half-received escape sequence and the style across chunks', () => {
    expect(styled(['a\x1b', '[3', '4mb', 'c\x1b[', '0md'])).toEqual([
      ['a', ''],
      ['b', 'f4'],
      ['c', 'f4'],
      ['d', ''],
    ]);
  });

  it('carries the style across lines', () => {
    expect(collect(['\x1b[31mred\nstill red\x1b[0m'])).toEqual([['red', { cls: 'f1' }], '\\n', ['still red', { cls: 'f1' }]]);
  });

  it('drops other escape sequences: cursor moves, erase, OSC titles and links, charsets, private modes', () => {
    const text = collect(['\x1b[2K\x1b[1Ga\x1b]0;title\x07b\x1b]8;;http://x\x1b\\c\x1b(Bd\x1b[?25le\x1b7f'])
      .filter(Array.isArray)
      .map((x) => x[0])
      .join('');
    expect(text).toBe('abcdef');
  });

  it('drops control characters but keeps tabs', () => {
    const text = collect(['a\tb\x00\x07\x08c'])
      .filter(Array.isArray)
      .map((x) => x[0])
      .join('');
    expect(text).toBe('a\tbc');
  });

  it('reports \\n and \\r to the line owner', () => {
    expect(collect(['a\r\nb\rc'])).toEqual([['a', { cls: '' }], '\\r', '\\n', ['b', { cls: '' }], '\\r', ['c', { cls: '' }]]);
  });

  it('leaves HTML alone: it is text', () => {
    expect(styled(['<img src=x onerror=alert(1)>'])).toEqual([['<img src=x onerror=alert(1)>', '']]);
  });
});
