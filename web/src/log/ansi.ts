/**
 * A stateful ANSI parser for logs: text in (any chunking), plain text runs with their style out.
 * It never produces HTML: the viewer renders each run as a text node inside a styled element.
 *
 * Understood: SGR (`ESC [ … m`): 0 reset, 1 bold, 2 dim, 3 italic, 4 underline, 22/23/24 off,
 * 30–37 / 90–97 / 38;5;n / 38;2;r;g;b foreground, 39 default, 40–47 / 100–107 / 48;5;n /
 * 48;2;r;g;b background, 49 default. Every other escape sequence (cursor moves, OSC titles and
 * links, charset selection) and every other control character is dropped. The style and any
 * half-received escape sequence are carried across chunks and lines, like a terminal.
 * `\n` and `\r` are reported to the sink, which owns lines (buffer.ts).
 */

/** One run of text in one style. `cls` is a space-separated list of CSS classes (f0–f15, b0–b15, bold…). */
export interface Span {
  text: string;
  cls: string;
  /** CSS colours for 256-colour and truecolor codes beyond the 16 themed ones. */
  fg?: string;
  bg?: string;
}

export interface AnsiSink {
  text(text: string, style: SpanStyle): void;
  newline(): void;
  carriageReturn(): void;
}

/** The computed look of the current style, shared by every span written in it. */
export interface SpanStyle {
  cls: string;
  fg?: string;
  bg?: string;
}

type Color = number | string | null;

const enum Mode {
  Text,
  Escape,
  Csi,
  Osc,
  OscEscape,
  EscapeIntermediate,
}

// Control characters: \n, \r, ESC and the rest (dropped); \t is text.
// eslint-disable-next-line no-control-regex
const SPECIAL = /[\x00-\x08\x0a-\x1f\x7f]/g;
const CUBE = [0, 95, 135, 175, 215, 255];

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** The CSS colour of xterm's 256-colour palette entries 16–255 (0–15 are themed classes). */
export function paletteColor(n: number): string {
  if (n < 232) {
    const i = n - 16;
    return `#${hex(CUBE[Math.floor(i / 36)])}${hex(CUBE[Math.floor(i / 6) % 6])}${hex(CUBE[i % 6])}`;
  }
  const level = 8 + (n - 232) * 10;
  return `#${hex(level)}${hex(level)}${hex(level)}`;
}

export class AnsiParser {
  private mode = Mode.Text;
  private params = '';
  private fg: Color = null;
  private bg: Color = null;
  private bold = false;
  private dim = false;
  private italic = false;
  private underline = false;
  private style: SpanStyle = { cls: '' };

  /** The style text is written in now (for tests and for a viewer that resumes mid-log). */
  get current(): SpanStyle {
    return this.style;
  }

  feed(chunk: string, sink: AnsiSink): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.mode === Mode.Text) {
        SPECIAL.lastIndex = i;
        const m = SPECIAL.exec(chunk);
        const stop = m ? m.index : n;
        if (stop > i) sink.text(chunk.slice(i, stop), this.style);
        if (!m) return;
        const c = chunk.charCodeAt(stop);
        i = stop + 1;
        if (c === 0x0a) sink.newline();
        else if (c === 0x0d) sink.carriageReturn();
        else if (c === 0x1b) this.mode = Mode.Escape;
        // Any other control character is dropped.
        continue;
      }
      const c = chunk.charCodeAt(i++);
      switch (this.mode) {
        case Mode.Escape:
          if (c === 0x5b /* [ */) {
            this.mode = Mode.Csi;
            this.params = '';
          } else if (c === 0x5d /* ] */) this.mode = Mode.Osc;
          else if (c >= 0x20 && c <= 0x2f) this.mode = Mode.EscapeIntermediate;
          else this.mode = Mode.Text; // a two-byte sequence (ESC 7, ESC M, …): dropped
          break;
        case Mode.EscapeIntermediate:
          if (c < 0x20 || c > 0x2f) this.mode = Mode.Text; // ESC ( B and friends: dropped
          break;
        case Mode.Csi:
          if (c >= 0x40 && c <= 0x7e) {
            if (c === 0x6d /* m */) this.sgr(this.params);
            this.mode = Mode.Text;
          } else if (this.params.length < 64) {
            this.params += String.fromCharCode(c);
          }
          break;
        case Mode.Osc:
          if (c === 0x07) this.mode = Mode.Text;
          else if (c === 0x1b) this.mode = Mode.OscEscape;
          break;
        case Mode.OscEscape:
          this.mode = c === 0x5c /* \ */ ? Mode.Text : Mode.Osc;
          break;
      }
    }
  }

  private sgr(raw: string): void {
    if (/[^0-9;:]/.test(raw)) return; // private modes (`ESC [ ? 25 m`) are not SGR
    const codes = raw === '' ? [0] : raw.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
    for (let k = 0; k < codes.length; k++) {
      const code = codes[k];
      if (code === 0) {
        this.fg = this.bg = null;
        this.bold = this.dim = this.italic = this.underline = false;
      } else if (code === 1) this.bold = true;
      else if (code === 2) this.dim = true;
      else if (code === 3) this.italic = true;
      else if (code === 4) this.underline = true;
      else if (code === 22) this.bold = this.dim = false;
      else if (code === 23) this.italic = false;
      else if (code === 24) this.underline = false;
      else if (code >= 30 && code <= 37) this.fg = code - 30;
      else if (code >= 90 && code <= 97) this.fg = code - 90 + 8;
      else if (code === 39) this.fg = null;
      else if (code >= 40 && code <= 47) this.bg = code - 40;
      else if (code >= 100 && code <= 107) this.bg = code - 100 + 8;
      else if (code === 49) this.bg = null;
      else if (code === 38 || code === 48) {
        let color: Color | undefined;
        if (codes[k + 1] === 5 && k + 2 < codes.length) {
          const n = codes[k + 2];
          if (n >= 0 && n <= 255) color = n;
          k += 2;
        } else if (codes[k + 1] === 2 && k + 4 < codes.length) {
          const [r, g, b] = codes.slice(k + 2, k + 5).map((v) => Math.max(0, Math.min(255, v)));
          color = `#${hex(r)}${hex(g)}${hex(b)}`;
          k += 4;
        } else {
          k = codes.length; // malformed: ignore the rest of this sequence
        }
        if (color !== undefined) {
          if (code === 38) this.fg = color;
          else this.bg = color;
        }
      }
      // Anything else (blink, inverse, fonts…) is ignored.
    }
    this.style = this.compute();
  }

  private compute(): SpanStyle {
    const cls: string[] = [];
    const style: SpanStyle = { cls: '' };
    if (typeof this.fg === 'number' && this.fg < 16) cls.push(`f${this.fg}`);
    else if (typeof this.fg === 'number') style.fg = paletteColor(this.fg);
    else if (typeof this.fg === 'string') style.fg = this.fg;
    if (typeof this.bg === 'number' && this.bg < 16) cls.push(`b${this.bg}`);
    else if (typeof this.bg === 'number') style.bg = paletteColor(this.bg);
    else if (typeof this.bg === 'string') style.bg = this.bg;
    if (this.bold) cls.push('bold');
    if (this.dim) cls.push('dim');
    if (this.italic) cls.push('italic');
    if (this.underline) cls.push('underline');
    style.cls = cls.join(' ');
    return style;
  }
}
