import { sseFrame, SseStream } from '../common/sse';
import { followLog } from './log-follow';
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
  let offset = from;
  let carry = Buffer.alloc(0);
  const send = async (bytes: Buffer): Promise<boolean> => {
    const text = bytes.toString('utf8');
    const frame = sseFrame('log', JSON.stringify({ offset, text }), offset + bytes.length);
    offset += bytes.length;
    return stream.send(frame);
  };
  try {
    for await (const chunk of followLog(logs, runId, from, stateOf, stop) as AsyncIterable<Buffer>) {
      let bytes = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      for (let cut = utf8Boundary(bytes.subarray(0, FRAME_BYTES)); cut > 0; cut = utf8Boundary(bytes.subarray(0, FRAME_BYTES))) {
        if (!(await send(bytes.subarray(0, cut)))) return;
        bytes = bytes.subarray(cut);
      }
      carry = Buffer.from(bytes);
    }
    if (stop.aborted) return;
    // The run is final and everything stored was read: what is left is not valid UTF-8 anyway.
    if (carry.length > 0 && !(await send(carry))) return;
    await stream.send(sseFrame('end', JSON.stringify({ state: await stateOf() })));
  } finally {
    stream.end();
  }
}
