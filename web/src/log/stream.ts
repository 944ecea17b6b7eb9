/**
 * Reading a run's log into a LogBuffer: the bytes already stored, then, while the run is not
 * final, its live follow. The follow asks for SSE (`Accept: text/event-stream`, SPEC 8: `log`
 * events carrying their byte range, then `end`); a server that answers with the plain chunked
 * follow is read as bytes. Either way a broken stream resumes at the buffer's end offset, so no
 * byte is lost or shown twice.
 */
import { authHeaders, failure, send } from '../api';
import { SseParser } from '../sse';
import type { LogBuffer } from './buffer';

/** Past this many bytes a log opens on its tail, with "Load earlier". */
export const TAIL_BYTES = 1024 * 1024;

export interface FollowResult {
  /** The run's final state when the server said so (SSE `end`). */
  state?: string;
}

function logUrl(runId: string, offset: number, follow: boolean): string {
  const q = new URLSearchParams();
  if (offset > 0) q.set('offset', String(offset));
  if (follow) q.set('follow', '1');
  const s = q.toString();
  return `/api/runs/${encodeURIComponent(runId)}/logs${s ? `?${s}` : ''}`;
}

/**
 * Reads from `buffer.end` to the end of the log (follow: until the run is final), calling
 * `changed` after each chunk. Resolves when the stream ends normally; rejects on an HTTP error
 * or a network failure (the caller decides whether to resume).
 */
export async function readLog(
  runId: string,
  buffer: LogBuffer,
  options: { follow: boolean; signal: AbortSignal; changed: () => void },
): Promise<FollowResult> {
  const res = await send(logUrl(runId, buffer.end, options.follow), {
    signal: options.signal,
    headers: authHeaders(options.follow ? { Accept: 'text/event-stream' } : {}),
  });
  if (!res.ok) throw await failure(res);
  if (!res.body) return {};
  const sse = (res.headers.get('content-type') ?? '').includes('text/event-stream');
  const reader = res.body.getReader();
  const parser = sse ? new SseParser() : null;
  const decoder = sse ? new TextDecoder() : null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (!parser || !decoder) {
      buffer.pushBytes(value);
      options.changed();
      continue;
    }
    for (const frame of parser.push(decoder.decode(value, { stream: true }))) {
      if (frame.event === 'log') {
        const data = JSON.parse(frame.data) as { offset: number; text: string };
        const end = frame.id !== undefined ? Number(frame.id) : data.offset + new TextEncoder().encode(data.text).length;
        buffer.pushText(data.text, data.offset, end);
        options.changed();
      } else if (frame.event === 'end') {
        await reader.cancel().catch(() => undefined);
        return JSON.parse(frame.data || '{}') as FollowResult;
      }
    }
  }
  return {};
}

/**
 * Bytes `[from, to)` of the log (a "Load earlier" chunk): the API serves from an offset to the
 * end, so the read stops once it has what it needs.
 */
export async function readRange(runId: string, from: number, to: number, signal?: AbortSignal): Promise<Uint8Array> {
  const controller = new AbortController();
  signal?.addEventListener('abort', () => controller.abort());
  const res = await send(logUrl(runId, from, false), { signal: controller.signal });
  if (!res.ok) throw await failure(res);
  const want = to - from;
  const out = new Uint8Array(want);
  let got = 0;
  if (res.body) {
    const reader = res.body.getReader();
    while (got < want) {
      const { value, done } = await reader.read();
      if (done) break;
      const take = Math.min(value.length, want - got);
      out.set(value.subarray(0, take), got);
      got += take;
    }
    controller.abort();
  }
  return out.subarray(0, got);
}

/** The whole raw log as a file download. */
export async function downloadLog(runId: string): Promise<void> {
  const res = await send(logUrl(runId, 0, false));
  if (!res.ok) throw await failure(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = `run-${runId}.log`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
