/**
 * Server-side masking (SPEC section 11) for runners that do not mask: every occurrence of a
 * secret's value is overwritten with one `*` per byte, so offsets stay valid. `tail` is the end
 * of the log already stored (up to the longest value minus one byte), so a value cut between two
 * chunks is found too; the caller rewrites the stored bytes this changes.
 */
export interface MaskResult {
  /** `tail` followed by the chunk, masked. */
  bytes: Buffer;
  /** Names of the secrets found. */
  found: string[];
  /** Lowest index of `bytes` that changed (Infinity when none did). */
  firstChanged: number;
}

export interface SecretValue {
  name: string;
  value: Buffer;
}

const STAR = 0x2a;
const PAIR_SLOTS = 8192;
const PAIR_MASK = PAIR_SLOTS - 1;

export function maskValues(tail: Buffer, chunk: Buffer, secrets: SecretValue[]): MaskResult {
  // Searched unchanged, so occurrences that overlap each other are all found.
  const original = Buffer.concat([tail, chunk]);
  const bytes = Buffer.from(original);
  const found: string[] = [];
  let firstChanged = Infinity;
  for (const { name, value } of secrets) {
    if (value.length === 0) continue;
    // Only occurrences that end in the new chunk: those inside the tail were masked before.
    let at = original.indexOf(value, Math.max(0, tail.length - value.length + 1));
    if (at < 0) continue;
    found.push(name);
    while (at >= 0) {
      bytes.fill(STAR, at, at + value.length);
      firstChanged = Math.min(firstChanged, at);
      at = original.indexOf(value, at + 1);
    }
  }
  return { bytes, found, firstChanged };
}

/**
 * Answers, for one run's secrets, whether any value occurs in a chunk (or across the stored tail
 * and it) without copying the chunk: every log part of a run with secrets is looked at, and a
 * runner that masks (every runner of ours) never sends one, so "no" must be cheap. One pass for
 * all values, Wu-Manber's way: the last two bytes of a window as long as the shortest value tell
 * how far ahead the next possible start is; only where a value's first two bytes are does the
 * whole value get compared. About a tenth of searching the chunk once per value. Where it says
 * yes, maskValues does the masking.
 */
export class SecretScan {
  /** The longest value's length (the stored tail to keep is one byte less). */
  readonly longest: number;
  private readonly values: Buffer[];
  /** The shortest value's length: the window. */
  private readonly shortest: number;
  /**
   * By the last two bytes of a window (hashed to 13 bits, so that a thousand cached runs hold 8
   * MB, not 64: a collision only shortens a skip): positions from its start on where no value
   * can start.
   */
  private readonly skip: Uint8Array | undefined;
  /** By a value's first two bytes: the values that start with them. */
  private readonly byStart = new Map<number, Buffer[]>();

  constructor(secrets: SecretValue[]) {
    this.values = secrets.map((s) => s.value).filter((v) => v.length > 0);
    this.longest = Math.max(0, ...this.values.map((v) => v.length));
    this.shortest = Math.min(...this.values.map((v) => v.length));
    if (this.values.length === 0 || this.shortest < 3) return; // plain indexOf then (never for values of 8 bytes or more)
    const m = this.shortest;
    const skip = new Uint8Array(PAIR_SLOTS).fill(Math.min(m - 1, 255));
    for (const v of this.values) {
      for (let q = 0; q <= m - 2; q++) {
        const pair = ((v[q] << 5) ^ v[q + 1]) & PAIR_MASK;
        skip[pair] = Math.min(skip[pair], m - 2 - q);
      }
      const start = (v[0] << 8) | v[1];
      const list = this.byStart.get(start);
      if (list) list.push(v);
      else this.byStart.set(start, [v]);
    }
    this.skip = skip;
  }

  /** Whether some value occurs in `tail` + `chunk` and ends inside `chunk`. */
  occursIn(tail: Buffer, chunk: Buffer): boolean {
    if (this.values.length === 0) return false;
    if (tail.length > 0 && chunk.length > 0) {
      // Across the boundary: a start in the tail, an end in the chunk (a small copy of both ends).
      const edge = Buffer.concat([tail.subarray(Math.max(0, tail.length - (this.longest - 1))), chunk.subarray(0, this.longest - 1)]);
      const cut = Math.min(tail.length, this.longest - 1);
      for (const v of this.values) {
        const at = edge.indexOf(v, Math.max(0, cut - v.length + 1));
        if (at >= 0 && at < cut) return true;
      }
    }
    return this.startsIn(chunk);
  }

  /** Whether some value occurs in `data`. */
  private startsIn(data: Buffer): boolean {
    const skip = this.skip;
    if (skip === undefined) return this.values.some((v) => data.includes(v));
    const m = this.shortest;
    const n = data.length;
    let i = 0;
    while (i + m <= n) {
      const by = skip[((data[i + m - 2] << 5) ^ data[i + m - 1]) & PAIR_MASK];
      if (by > 0) {
        i += by;
        continue;
      }
      const candidates = this.byStart.get((data[i] << 8) | data[i + 1]);
      if (candidates !== undefined) {
        for (const v of candidates) if (i + v.length <= n && data.compare(v, 0, v.length, i, i + v.length) === 0) return true;
      }
      i++;
    }
    return false;
  }
}
