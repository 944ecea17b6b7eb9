/**
 * The streaming masker: every occurrence of a secret (and of its printed forms) in a run's log
 * becomes `[MASKED]`, before the log is cut into chunks, so that no chunk, no retry and no byte
 * on disk past this point holds a secret, and offsets count the masked log.
 *
 * Semantics, the same for a stream as for the whole log at once: scanning from the left, at each
 * position the LONGEST pattern that starts there is replaced and the scan resumes after it;
 * where none starts, the byte is kept. (mask.spec.ts writes that definition out plainly and
 * checks the masker against it on thousands of random logs cut at random places.)
 *
 * Streaming: bytes arrive in writes cut at any position. A position is decided only when the
 * bytes after it settle the question: the walk down the pattern trie ran into a byte no pattern
 * continues with, or reached a pattern's end with nothing longer possible. If the walk runs off
 * the end of what has arrived while a longer pattern is still possible, everything from that
 * position on is held back, which is at most the longest pattern minus one byte, and only bytes
 * that could still start a secret. `end()` decides the held bytes with what is there.
 *
 * No line logic and no fixed-size pieces: a secret split across writes, across a 1 MiB line, or
 * whose start repeats inside it (`abab…c`) is found all the same (the failures of GitLab's runner
 * and Woodpecker this avoids). Positions that cannot start a pattern are passed over a window at
 * a time (Wu-Manber's skip on two bytes), else by one or two table look-ups (first byte, first two
 * bytes); only the rest walk the trie.
 */

export const MASK = Buffer.from('[MASKED]');

/** Lines (of a multi-line value, of wrapped base64) shorter than this are not masked alone. */
const MIN_LINE_BYTES = 8;

/** `base64` (GNU coreutils) wraps its output at 76 columns. */
const BASE64_COLUMNS = 76;

/**
 * The byte patterns one secret value is masked in: the value; each line of 8 bytes or more of a
 * multi-line value; standard padded base64 of the value and of the value plus a newline (what
 * `printf %s "$S" | base64` and `echo "$S" | base64` print), also as `base64` wraps it at 76
 * columns, and each of those lines; percent-encoding as encodeURIComponent does it; the value
 * escaped inside a JSON string.
 */
export function secretForms(value: string): string[] {
  const forms = new Set<string>();
  const add = (form: string): void => {
    if (form !== '') forms.add(form);
  };
  const addLines = (text: string): void => {
    if (!/[\r\n]/.test(text)) return;
    for (const line of text.split(/\r?\n|\r/)) if (Buffer.byteLength(line) >= MIN_LINE_BYTES) add(line);
  };
  add(value);
  addLines(value);
  for (const encoded of [Buffer.from(value).toString('base64'), Buffer.from(`${value}\n`).toString('base64')]) {
    add(encoded);
    if (encoded.length > BASE64_COLUMNS) {
      const wrapped = encoded.replace(new RegExp(`(.{${BASE64_COLUMNS}})(?=.)`, 'g'), '$1\n');
      add(wrapped);
      addLines(wrapped);
    }
  }
  add(encodeURIComponent(value));
  add(JSON.stringify(value).slice(1, -1));
  return [...forms];
}

/** Every pattern for a set of secret values. */
export function maskPatterns(values: string[]): Buffer[] {
  const all = new Set<string>();
  for (const value of values) for (const form of secretForms(value)) all.add(form);
  return [...all].map((p) => Buffer.from(p, 'utf8'));
}

/**
 * A byte trie of the patterns. Node 0 is the root; `rootNext` is a flat table for the first
 * byte (the hot look-up), deeper nodes keep a small map.
 */
class Trie {
  readonly rootNext = new Int32Array(256).fill(-1);
  /** 1 where some pattern starts with these two bytes (`first << 8 | second`), or is `first` alone. */
  readonly pairs = new Uint8Array(65536);
  private readonly next: Array<Map<number, number>> = [new Map<number, number>()];
  /** True where a pattern ends. */
  private readonly ends: boolean[] = [false];
  readonly longest: number;
  /** The shortest pattern's length. */
  readonly shortest: number;
  /**
   * Wu-Manber's skip table on the last two bytes of a window of `shortest` bytes: how many
   * positions from the window's start on cannot start a pattern, because those two bytes occur
   * at no matching offset of any pattern's first `shortest` bytes. Undefined for patterns
   * shorter than 3 bytes.
   */
  readonly skip: Uint8Array | undefined;

  constructor(patterns: Buffer[]) {
    let longest = 0;
    let shortest = Infinity;
    for (const p of patterns) {
      if (p.length === 0) continue;
      longest = Math.max(longest, p.length);
      shortest = Math.min(shortest, p.length);
      let node = 0;
      for (const byte of p) {
        let child = this.next[node].get(byte);
        if (child === undefined) {
          child = this.next.length;
          this.next.push(new Map<number, number>());
          this.ends.push(false);
          this.next[node].set(byte, child);
          if (node === 0) this.rootNext[byte] = child;
        }
        node = child;
      }
      this.ends[node] = true;
      if (p.length === 1) this.pairs.fill(1, p[0] << 8, (p[0] + 1) << 8);
      else this.pairs[(p[0] << 8) | p[1]] = 1;
    }
    this.longest = longest;
    this.shortest = shortest === Infinity ? 0 : shortest;
    if (this.shortest >= 3) {
      const m = this.shortest;
      const skip = new Uint8Array(65536).fill(Math.min(m - 1, 255));
      for (const p of patterns) {
        for (let q = 0; q <= m - 2; q++) {
          const pair = (p[q] << 8) | p[q + 1];
          skip[pair] = Math.min(skip[pair], m - 2 - q);
        }
      }
      this.skip = skip;
    }
  }

  child(node: number, byte: number): number {
    return this.next[node].get(byte) ?? -1;
  }

  isEnd(node: number): boolean {
    return this.ends[node];
  }

  isLeaf(node: number): boolean {
    return this.next[node].size === 0;
  }
}

/**
 * Masks `data` from its start. Returns the output and how many bytes of `data` were decided;
 * with `final` false, the rest (which could still begin a pattern) must be kept for later.
 */
function scan(trie: Trie, data: Buffer, final: boolean): { out: Buffer[]; decided: number } {
  const out: Buffer[] = [];
  const n = data.length;
  const rootNext = trie.rootNext;
  const pairs = trie.pairs;
  const skip = trie.skip;
  const m = trie.shortest;
  let plainFrom = 0;
  let i = 0;
  while (i < n) {
    // Whole windows first: positions that provably start no pattern are passed over together.
    if (skip !== undefined && i + m <= n) {
      const by = skip[(data[i + m - 2] << 8) | data[i + m - 1]];
      if (by > 0) {
        i += by;
        continue;
      }
    }
    const first = data[i];
    let node = rootNext[first];
    // The hot path: two table look-ups settle that no pattern starts at i.
    if (node < 0 || (i + 1 < n && pairs[(first << 8) | data[i + 1]] === 0)) {
      i++;
      continue;
    }
    let best = trie.isEnd(node) ? 1 : 0;
    let j = i + 1;
    while (j < n) {
      const child = trie.child(node, data[j]);
      if (child < 0) break;
      node = child;
      j++;
      if (trie.isEnd(node)) best = j - i;
    }
    if (j === n && !final && !trie.isLeaf(node)) break; // a longer pattern may still arrive: hold from i
    if (best > 0) {
      if (i > plainFrom) out.push(data.subarray(plainFrom, i));
      out.push(MASK);
      i += best;
      plainFrom = i;
    } else {
      i++;
    }
  }
  if (i > plainFrom) out.push(data.subarray(plainFrom, i));
  return { out, decided: i };
}

/** The whole log masked at once (leftmost-longest, non-overlapping). */
export function maskAll(log: Buffer, patterns: Buffer[]): Buffer {
  const trie = new Trie(patterns);
  if (trie.longest === 0) return log;
  return Buffer.concat(scan(trie, log, true).out);
}

/** The streaming masker of one run's log. */
export class Masker {
  private readonly trie: Trie;
  private held: Buffer = Buffer.alloc(0);

  constructor(patterns: Buffer[]) {
    this.trie = new Trie(patterns);
  }

  /** Of the values' forms, the longest (what `held` never reaches). */
  get longest(): number {
    return this.trie.longest;
  }

  /** Bytes currently held back (they may begin a secret). */
  get holding(): number {
    return this.held.length;
  }

  /**
   * Masks what can be decided now; keeps a tail that could still start a secret. The result may
   * share memory with `chunk`: write it out before reusing `chunk`.
   */
  write(chunk: Buffer): Buffer {
    if (this.trie.longest === 0) return chunk;
    const data = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    const { out, decided } = scan(this.trie, data, false);
    // A copy: the caller may reuse its buffer, and the tail is small.
    this.held = Buffer.from(data.subarray(decided));
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }

  /** The end of the stream: decides and returns what was held. */
  end(): Buffer {
    if (this.held.length === 0) return Buffer.alloc(0);
    const { out } = scan(this.trie, this.held, true);
    this.held = Buffer.alloc(0);
    return Buffer.concat(out);
  }
}
