/**
 * The head and tail of a log past LOG_MAX_BYTES (SPEC section 13), as pure functions over byte
 * positions. A run's log has one coordinate, its position: every byte sent, by every attempt,
 * and the attempt-lost lines between attempts; the run's `logs` is its length. Chunks are stored
 * at their position. Past the cap the first half (the head, positions below `head`) stays, and
 * of the rest only the last half (the tail) is kept: tail chunks that end before it are deleted
 * as new ones arrive, so storage stays under the cap plus one chunk. A read that starts before
 * the first kept tail byte shows one marker line in place of the dropped bytes.
 */
export interface LogWindow {
  /** Bytes kept at the start: positions [0, head). */
  head: number;
  /** Bytes kept at the end. */
  tail: number;
  cap: number;
}

export function logWindow(cap: number): LogWindow {
  const head = Math.floor(cap / 2);
  return { head, tail: cap - head, cap };
}

/** Where the bytes [pos, pos + length) of an append are stored: head part, tail part, and what to delete. */
export interface Placement {
  /** [start, end) offsets into the appended bytes, stored at position pos + start. */
  parts: Array<{ start: number; end: number }>;
  /** Tail chunks ending at or before this position are no longer needed (delete them). */
  dropBefore: number | null;
}

export function place(w: LogWindow, pos: number, length: number): Placement {
  const end = pos + length;
  const parts: Array<{ start: number; end: number }> = [];
  if (pos < w.head) parts.push({ start: 0, end: Math.min(length, w.head - pos) });
  const tailFrom = Math.max(pos, w.head, end - w.tail);
  if (tailFrom < end) parts.push({ start: tailFrom - pos, end: length });
  return { parts, dropBefore: end > w.cap ? end - w.tail : null };
}

export function gapMarker(dropped: number, w: LogWindow): Buffer {
  return Buffer.from(
    `\n[pulse] ${dropped} bytes of this log were dropped here: past LOG_MAX_BYTES (${w.cap}) it keeps its first ${w.head} and its last ${w.tail} bytes\n`,
  );
}

export interface StoredPiece {
  pos: number;
  data: Buffer;
}

/**
 * A piece of a read: `data` stands for positions `pos` to `next`. The log's own bytes have
 * `next = pos + data.length`; the marker line stands for the dropped range (`pos` the end of the
 * head, `next` the first kept tail byte), so a reader that saw it resumes after the gap.
 */
export interface LogPart {
  pos: number;
  data: Buffer;
  next: number;
}

/**
 * The log from position `from`, given the stored chunks that end after `from`, in order: the
 * bytes to send, the position they reach (`next`, where a follower reads on), and the same bytes
 * as parts with their positions (for readers that name positions, such as the SSE log follow).
 * From before the gap or inside it, the bytes include the marker line, which takes no position.
 */
export function assemble(w: LogWindow, pieces: StoredPiece[], from: number): { data: Buffer; next: number; parts: LogPart[] } {
  let headEnd = -1;
  let tailStart = -1;
  let next = from;
  for (const p of pieces) {
    if (p.pos < w.head) headEnd = Math.max(headEnd, p.pos + p.data.length);
    else if (tailStart < 0) tailStart = p.pos;
    next = Math.max(next, p.pos + p.data.length);
  }
  // A gap: the first kept tail byte comes after the end of the head (the cap dropped what was between).
  const gap = tailStart > Math.max(headEnd, w.head);
  const parts: LogPart[] = [];
  const own = (pos: number, data: Buffer): void => {
    if (data.length > 0) parts.push({ pos, data, next: pos + data.length });
  };
  if (!gap) {
    for (const p of pieces) own(Math.max(from, p.pos), p.pos < from ? p.data.subarray(from - p.pos) : p.data);
  } else {
    for (const p of pieces) {
      if (p.pos >= w.head) break;
      const start = Math.max(from, p.pos);
      const end = Math.min(p.pos + p.data.length, w.head);
      if (end > start) own(start, p.data.subarray(start - p.pos, end - p.pos));
    }
    if (from < tailStart) parts.push({ pos: Math.max(from, w.head), data: gapMarker(tailStart - w.head, w), next: tailStart });
    for (const p of pieces) {
      if (p.pos < w.head) continue;
      own(Math.max(from, p.pos), p.pos < from ? p.data.subarray(from - p.pos) : p.data);
    }
  }
  return { data: Buffer.concat(parts.map((p) => p.data)), next, parts };
}
