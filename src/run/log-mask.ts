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

const STAR = 0x2a;

export function maskValues(tail: Buffer, chunk: Buffer, secrets: Array<{ name: string; value: Buffer }>): MaskResult {
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
