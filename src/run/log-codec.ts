import { deflateRaw, inflateRawSync } from 'node:zlib';
import { promisify } from 'node:util';

const deflate = promisify(deflateRaw);

/** Chunks smaller than this are stored as they are: deflating them saves little. */
const MIN_DEFLATE_BYTES = 2048;

export interface StoredChunk {
  data: Buffer;
  deflated: boolean;
}

/**
 * How a log chunk is stored: deflated (raw DEFLATE, level 1, in libuv's thread pool) when that
 * saves at least a tenth, else as it is. CI logs shrink 3-10 times, so PostgreSQL, its WAL and
 * the socket to it carry that much less.
 */
export async function packChunk(bytes: Buffer): Promise<StoredChunk> {
  if (bytes.length < MIN_DEFLATE_BYTES) return { data: bytes, deflated: false };
  const packed = await deflate(bytes, { level: 1 });
  return packed.length <= bytes.length * 0.9 ? { data: packed, deflated: true } : { data: bytes, deflated: false };
}

/** The log bytes of a stored chunk. */
export function unpackChunk(data: Buffer, deflated: boolean): Buffer {
  return deflated ? inflateRawSync(data) : data;
}
