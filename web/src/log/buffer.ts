import { AnsiParser, type AnsiSink, type Span, type SpanStyle } from './ansi';

/** One line of the log as styled runs of text. The last line may still be growing. */
export interface LogLine {
  spans: Span[];
}

/** The plain text of a line (what search looks at and what a copy gives). */
export function lineText(line: LogLine): string {
  return line.spans.length === 1 ? line.spans[0].text : line.spans.map((s) => s.text).join('');
}

export class LogGapError extends Error {
  constructor(
    readonly expected: number,
    readonly got: number,
  ) {
    super(`log bytes from ${got} cannot follow ${expected}`);
  }
}

export interface LogBufferOptions {
  /**
   * Byte offset of the first byte that will be pushed (a tail). Past 0, the bytes up to and
   * including the first `\n` belong to a line that started earlier and are skipped, so the
   * buffer starts on a whole line (and on a whole UTF-8 character).
   */
  from?: number;
}

/**
 * The lines of a run's log, built from byte chunks in order (`pushBytes`) or from SSE text
 * events that carry their byte range (`pushText`). It knows which bytes it holds (`start`, `end`),
 * so a reconnect resumes at `end` and a chunk that overlaps what it already has is trimmed, never
 * doubled. Bytes are decoded with a streaming TextDecoder, so a UTF-8 character split between
 * chunks comes out whole. `\r` collapses a progress line to its last state (`\r\n` is a line end).
 */
export class LogBuffer implements AnsiSink {
  readonly lines: LogLine[] = [];
  /** Byte offset of the first byte shown (after the skipped partial line of a tail). */
  start: number;
  /** Byte offset just past the last byte received. */
  end: number;
  /** Increases on every change: the viewer re-renders when it moves. */
  version = 0;
  private readonly parser = new AnsiParser();
  private readonly decoder = new TextDecoder('utf-8');
  private open: LogLine | null = null;
  private pendingReturn = false;
  private skipping: boolean;

  constructor(options: LogBufferOptions = {}) {
    this.start = this.end = options.from ?? 0;
    this.skipping = this.start > 0;
  }

  /** True when the buffer holds the log from its first byte (line numbers are absolute). */
  get fromStart(): boolean {
    return this.start === 0 && !this.skipping;
  }

  /** Appends raw bytes that start at byte `at` (default: where the buffer ends). */
  pushBytes(bytes: Uint8Array, at: number = this.end): void {
    if (at > this.end) throw new LogGapError(this.end, at);
    if (at < this.end) {
      const overlap = this.end - at;
      if (overlap >= bytes.length) return;
      bytes = bytes.subarray(overlap);
    }
    this.end += bytes.length;
    if (this.skipping) {
      const nl = bytes.indexOf(0x0a);
      if (nl < 0) return;
      this.skipping = false;
      bytes = bytes.subarray(nl + 1);
      this.start = this.end - bytes.length;
    }
    if (bytes.length > 0) this.feed(this.decoder.decode(bytes, { stream: true }));
  }

  /**
   * Appends text that covers bytes `[from, to)` of the log (an SSE `log` event: `data.offset`
   * and its `id`). Whatever part of it the buffer already holds is dropped.
   */
  pushText(text: string, from: number, to: number): void {
    if (to <= this.end) return;
    if (from > this.end) throw new LogGapError(this.end, from);
    if (from < this.end || this.skipping) {
      // By bytes: drop the overlap, or the partial first line of a tail. A tail that starts
      // inside a character arrives with U+FFFD in that (dropped) line, which re-encodes to a
      // different length: the frame's own byte range stays the authority.
      const wasSkipping = this.skipping;
      this.pushBytes(new TextEncoder().encode(text), from);
      const drift = to - this.end;
      if (drift !== 0) {
        this.end = to;
        if (wasSkipping && !this.skipping) this.start += drift;
      }
      return;
    }
    this.end = to;
    this.feed(text);
  }

  /** Lines of the bytes just before this buffer's start (a "Load earlier" chunk), prepended. */
  prepend(earlier: LogBuffer): void {
    if (earlier.end !== this.start) throw new LogGapError(this.start, earlier.end);
    earlier.close();
    this.lines.unshift(...earlier.lines);
    this.start = earlier.start;
    this.skipping = earlier.skipping;
    this.version++;
  }

  /** Flushes a trailing half character (only once no more bytes will come). */
  close(): void {
    const rest = this.decoder.decode();
    if (rest) this.feed(rest);
  }

  private feed(text: string): void {
    this.parser.feed(text, this);
    this.version++;
  }

  text(text: string, style: SpanStyle): void {
    let line = this.open;
    if (!line) {
      line = this.open = { spans: [] };
      this.lines.push(line);
    } else if (this.pendingReturn) {
      line.spans = [];
    }
    this.pendingReturn = false;
    const last = line.spans[line.spans.length - 1];
    if (last && last.cls === style.cls && last.fg === style.fg && last.bg === style.bg) {
      last.text += text;
    } else {
      line.spans.push({ text, cls: style.cls, ...(style.fg && { fg: style.fg }), ...(style.bg && { bg: style.bg }) });
    }
  }

  newline(): void {
    if (!this.open) this.lines.push({ spans: [] });
    this.open = null;
    this.pendingReturn = false;
  }

  carriageReturn(): void {
    this.pendingReturn = true;
  }
}
