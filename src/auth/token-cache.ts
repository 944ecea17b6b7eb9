import { Injectable } from '@nestjs/common';
import { WorkSignal } from '../database/work-signal';
import type { Caller } from './scopes';

interface Entry {
  caller: Caller;
  tokenId: string;
  /** The token's own expiry (ms). */
  expiresAt: number;
  /** When this entry must be read again (ms). */
  until: number;
}

const MAX_ENTRIES = 100_000;
const ENTRY_TTL_MS = 60_000;

/**
 * API tokens recently seen, by the SHA-256 of their value, so a request costs no database round
 * trip. A revocation drops the token at once in every process (NOTIFY through WorkSignal); while
 * that channel is down nothing is cached. Like RunnerCache.
 */
@Injectable()
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private changes = 0;

  constructor(private readonly signal: WorkSignal) {
    signal.onForget('token', (id) => (id ? this.forget(id) : this.clear()));
  }

  get(hash: string): Entry | undefined {
    const hit = this.entries.get(hash);
    if (!hit) return undefined;
    if (hit.until < Date.now() || !this.signal.reliable) {
      this.entries.delete(hash);
      return undefined;
    }
    return hit;
  }

  /** A reading of the change counter, taken before a database read whose answer may be cached. */
  get version(): number {
    return this.changes;
  }

  remember(hash: string, entry: Omit<Entry, 'until'>, version: number): void {
    if (!this.signal.reliable || version !== this.changes) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(hash, { ...entry, until: Math.min(Date.now() + ENTRY_TTL_MS, entry.expiresAt) });
  }

  forget(tokenId: string): void {
    this.changes++;
    for (const [hash, hit] of this.entries) if (hit.tokenId === tokenId) this.entries.delete(hash);
  }

  clear(): void {
    this.changes++;
    this.entries.clear();
  }
}
