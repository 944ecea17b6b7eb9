import { sseFrame, SseStream } from '../common/sse';
import { followLogParts } from './log-follow';
import type { LogService } from './log.service';
import type { RunState } from './run-state';

/** Largest piece of log text in one frame. */
const FRAME_BYTES = 64 * 1024;

/**
 * How many leading bytes of `buf` end on a UTF-8 character boundary: a character whose bytes
 * are not all there yet stays behind for the next frame.
 */
export function utf8Boundary(buf: Buffer): number {
  for (let back = 1; back <= Math.min(4, buf.length); back++) {
    const byte = buf[buf.length - back];
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? buf.length - back : buf.length;
  }
  return buf.length;
}

/**
 * `GET /api/runs/{id}/logs?follow=1` with `Accept: text/event-stream` (SPEC section 8):
 * `event: log` frames with `id: <end offset>` and `data: {"offset": <start>, "text": "..."}`,
 * split at character boundaries, then `event: end` with the final state, and the stream ends.
 * A client resumes with `Last-Event-ID: <end offset>`. If the server shuts down first, the
 * stream just ends (no `end` frame): the client reconnects and resumes.
 */
export async function streamLogEvents(
  stream: SseStream,
  logs: LogService,
  runId: string,
  from: number,
  stateOf: () => Promise<RunState>,
  shutdown: AbortSignal,
): Promise<void> {
  const stop = AbortSignal.any([stream.closed, shutdown]);
  // Bytes of a character cut by the end of a part, and the position they start at.
  let carry = Buffer.alloc(0);
  let carryPos = from;
  const send = (pos: number, bytes: Buffer, next: number): Promise<boolean> =>
    stream.send(sseFrame('log', JSON.stringify({ offset: pos, text: bytes.toString('utf8') }), next));
  try {
    for await (const part of followLogParts(logs, runId, from, stateOf, stop)) {
      if (part.next !== part.pos + part.data.length) {
        // The marker line of a log past LOG_MAX_BYTES: one frame that stands for the dropped range
        // (its id is the first kept tail byte). What was carried ends the head: send it as it is.
        if (carry.length > 0 && !(await send(carryPos, carry, carryPos + carry.length))) return;
        carry = Buffer.alloc(0);
        if (!(await send(part.pos, part.data, part.next))) return;
        carryPos = part.next;
        continue;
      }
      let bytes = carry.length > 0 ? Buffer.concat([carry, part.data]) : part.data;
      let pos = carry.length > 0 ? carryPos : part.pos;
      for (let cut = utf8Boundary(bytes.subarray(0, FRAME_BYTES)); cut > 0; cut = utf8Boundary(bytes.subarray(0, FRAME_BYTES))) {
        if (!(await send(pos, bytes.subarray(0, cut), pos + cut))) return;
        bytes = bytes.subarray(cut);
        pos += cut;
      }
      carry = Buffer.from(bytes);
      carryPos = pos;
    }
    if (stop.aborted) return;
    // The run is final and everything stored was read: what is left is not valid UTF-8 anyway.
    if (carry.length > 0 && !(await send(carryPos, carry, carryPos + carry.length))) return;
    await stream.send(sseFrame('end', JSON.stringify({ state: await stateOf() })));
  } finally {
    stream.end();
  }
}
