/**
 * Server-Sent Events framing (the WHATWG `text/event-stream` rules), for streams read with
 * fetch(): EventSource cannot send an Authorization header, and the token must never be in a URL.
 * Text in (any chunking, `\n`, `\r\n` or `\r` line ends), whole frames out.
 */
export interface SseFrame {
  /** The frame's `id:` field, if it had one. */
  id?: string;
  /** `event:` field; "message" when absent. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
}

export class SseParser {
  private partial = '';
  private afterCR = false;
  private id: string | undefined;
  private event = '';
  private data: string[] = [];
  /** The last `id:` seen (what a reconnect sends as Last-Event-ID). */
  lastEventId: string | undefined;
  /** The server's `retry:` advice in ms, if it gave one. */
  retry: number | undefined;

  push(chunk: string): SseFrame[] {
    const frames: SseFrame[] = [];
    let text = chunk;
    if (this.afterCR && text.startsWith('\n')) text = text.slice(1); // the \n of a split \r\n
    this.afterCR = false;
    let from = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      const line = this.partial + text.slice(from, i);
      this.partial = '';
      if (c === 0x0d) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 0x0a) i++;
        } else {
          this.afterCR = true;
        }
      }
      from = i + 1;
      const frame = this.line(line);
      if (frame) frames.push(frame);
    }
    this.partial += text.slice(from);
    return frames;
  }

  private line(line: string): SseFrame | undefined {
    if (line === '') {
      const hasData = this.data.length > 0;
      const frame: SseFrame | undefined = hasData
        ? { event: this.event || 'message', data: this.data.join('\n'), ...(this.id !== undefined && { id: this.id }) }
        : undefined;
      this.id = undefined;
      this.event = '';
      this.data = [];
      return frame;
    }
    if (line.startsWith(':')) return undefined; // a comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) {
          this.id = value;
          this.lastEventId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
    return undefined;
  }
}
