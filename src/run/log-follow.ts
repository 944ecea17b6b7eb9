import type { FastifyReply } from 'fastify';
import { once } from 'node:events';
import { pipeline, Readable } from 'node:stream';
import { isFinal, RunState } from './run-state';
import type { LogService } from './log.service';
import type { LogPart } from './log-window';

/** How long a follower sleeps when no append in this process woke it (appends may land elsewhere). */
const POLL_MS = 500;

/**
 * The log of a run from position `from`, as parts with their positions (src/run/log-window.ts),
 * until the run is final and everything stored has been read (seed 004's attach). Appends in this
 * process wake it at once; appends in another orchestrator process are seen within POLL_MS.
 */
export async function* followLogParts(
  logs: LogService,
  runId: string,
  from: number,
  stateOf: () => Promise<RunState>,
  closed: AbortSignal,
): AsyncGenerator<LogPart> {
  let pos = from;
  while (!closed.aborted) {
    const state = await stateOf();
    const read = await logs.readFrom(runId, pos);
    pos = read.next;
    yield* read.parts;
    if (isFinal(state)) {
      // The state was read before the bytes: anything stored before the run turned final is sent.
      yield* (await logs.readFrom(runId, pos)).parts;
      return;
    }
    const wake = new AbortController();
    const onAbort = (): void => wake.abort();
    closed.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => wake.abort(), POLL_MS);
    try {
      await once(logs.appended, runId, { signal: wake.signal });
    } catch {
      // woken by the poll timer or the client going away
    } finally {
      clearTimeout(timer);
      closed.removeEventListener('abort', onAbort);
    }
  }
}

/** followLogParts as the plain byte stream of `?follow=1`. */
export function followLog(
  logs: LogService,
  runId: string,
  from: number,
  stateOf: () => Promise<RunState>,
  closed: AbortSignal,
): Readable {
  async function* chunks(): AsyncGenerator<Buffer> {
    for await (const part of followLogParts(logs, runId, from, stateOf, closed)) yield part.data;
  }
  return Readable.from(chunks(), { objectMode: false });
}

/**
 * Sends a stream as the response body with its headers at once. `reply.send(stream)` would hold
 * the headers back until the first byte, so a follower of a quiet or still waiting run would get
 * no response at all (and a proxy in between would time it out). `gone` is aborted when the
 * client goes away; `pipeline` then also destroys the stream, which ends the generator behind it.
 */
export function sendStreaming(
  reply: FastifyReply,
  headers: Record<string, string>,
  open: (gone: AbortSignal) => Readable,
): void {
  const res = reply.hijack().raw;
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  res.writeHead(200, { ...headers, 'x-accel-buffering': 'no' });
  res.flushHeaders();
  pipeline(open(gone.signal), res, () => undefined);
}
