import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { EventEmitter } from 'node:events';
import { DataSource, EntityManager } from 'typeorm';
import { returned } from '../common/sql';
import { Conflict, LeaseLost, NotFound, OffsetGap } from '../common/errors';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { SecretService } from '../secret/secret.service';
import { packChunk, unpackChunk } from './log-codec';
import { assemble, logWindow, LogPart, LogWindow, place } from './log-window';
import { maskValues, SecretScan, type SecretValue } from './log-mask';
import type { RunRow } from './run.entity';
import { isFinal, RunState } from './run-state';
import { RunRepository } from './run.repository';

const MASK_CACHE_RUNS = 1000;
const MASK_CACHE_MS = 60_000;

/** The end of a run's stored log as this process last wrote it: enough to mask the next chunk. */
interface KnownTail {
  secrets: SecretValue[];
  scan: SecretScan;
  /** The last (longest value - 1) bytes of the stored log. */
  tail: Buffer;
  /** The stored log's length after them (`log_stored`). */
  storedEnd: number;
}

function lastBytes(bytes: Buffer, n: number): Buffer {
  return Buffer.from(bytes.subarray(Math.max(0, bytes.length - n)));
}

/** The last `n` bytes of `tail` followed by `chunk` (a copy, and of `chunk` alone when it is long enough). */
function lastBytesOf(tail: Buffer, chunk: Buffer, n: number): Buffer {
  return chunk.length >= n ? lastBytes(chunk, n) : lastBytes(Buffer.concat([tail, chunk]), n);
}

interface MaskEntry {
  namespace: string;
  secrets: SecretValue[];
  scan: SecretScan;
  until: number;
  known?: KnownTail;
}

export interface AppendResult {
  offset: number;
  cancel: boolean;
}

/**
 * Run logs: chunks at byte positions (SPEC section 2, `update`; section 13, head and tail).
 *
 * Two counters per run: `log_offset` counts the bytes the current attempt's runner sent (its
 * bookkeeping, checked by `logBytes` at complete), `log_stored` the length of the run's log
 * across attempts, every byte counted (the run's `logs`, the positions readers use). Past
 * LOG_MAX_BYTES per run the first half stays and only the last half of the rest is kept
 * (log-window.ts): older tail chunks are deleted as new ones arrive.
 */
@Injectable()
export class LogService implements BeforeApplicationShutdown {
  /** Emits the run id when bytes were appended in this process (followers wake at once). */
  readonly appended = new EventEmitter().setMaxListeners(0);
  /** Aborted when the app shuts down: followers end their streams so the server can close. */
  private readonly closing = new AbortController();

  private readonly window: LogWindow;
  private readonly logger = new Logger('Logs');
  /** Secret values of runs with secrets, by run and lease (server-side masking). */
  private readonly maskCache = new Map<string, MaskEntry>();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly runs: RunRepository,
    @Inject(PULSE_CONFIG) config: PulseConfig,
    private readonly secrets: SecretService,
  ) {
    this.window = logWindow(config.logMaxBytes);
  }

  async append(runnerId: string, runId: string, messageId: string, offset: number, logs: string): Promise<AppendResult> {
    let bytes: Buffer = Buffer.from(logs, 'utf8');
    // A run with secrets whose stored tail this process knows: masked here, then the fast path,
    // on the condition that the stored log still ends where the known tail does.
    const masked = bytes.length > 0 ? this.maskWithKnownTail(runId, runnerId, messageId, bytes) : undefined;
    if (masked) bytes = masked.bytes;
    const chunk = await packChunk(bytes);
    // The common case in one statement: the lease holder appends new bytes exactly at the end
    // of its log, under the cap. The UPDATE takes the row lock and re-checks the offset under it,
    // so concurrent appends to one run still line up. The chunk must fall wholly in the head or
    // wholly in the tail before the cap (nothing to split or drop). Anything else (a re-send, a
    // gap, the cap, a stale lease, a final run, a run with secrets this process cannot mask here)
    // takes the locked path below, which handles it precisely. No bytes (the acknowledgement):
    // nothing to mask, the fast path whether or not the run has secrets.
    const secretsCheck = bytes.length === 0 ? 'true' : masked ? 'log_stored = $10' : 'cardinality(secrets) = 0';
    const fast = returned<{ log_offset: string; cancel: boolean }>(
      await this.db.query(
        `WITH moved AS (
           UPDATE run SET log_offset = log_offset + $5, log_stored = log_stored + $5, acknowledged = true
           WHERE id = $1 AND runner_id = $2 AND message_id = $3 AND state = '${RunState.Running}'
             AND log_offset = $4 AND (log_stored + $5 <= $9 OR (log_stored >= $9 AND log_stored + $5 <= $7)) AND ${secretsCheck}
           RETURNING log_offset, log_stored - $5 AS pos, cancel_requested_at IS NOT NULL AS cancel
         ), stored AS (
           INSERT INTO run_log_chunk (run_id, pos, data, len, deflated)
           SELECT $1::uuid, pos, $6::bytea, $5, $8 FROM moved WHERE $5::bigint > 0
         )
         SELECT log_offset, cancel FROM moved`,
        [
          runId,
          runnerId,
          messageId,
          offset,
          bytes.length,
          chunk.data,
          this.window.cap,
          chunk.deflated,
          this.window.head,
          ...(masked ? [masked.storedEnd] : []),
        ],
      ),
    );
    if (fast.length > 0) {
      if (masked) masked.commit();
      if (bytes.length > 0) this.appended.emit(runId);
      return { offset: Number(fast[0].log_offset), cancel: fast[0].cancel };
    }
    if (masked) bytes = Buffer.from(logs, 'utf8');
    const result = await this.db.transaction(async (tx) => {
      const run = await this.runs.lockById(tx, runId);
      if (!run) throw new NotFound(`run ${runId} does not exist`);
      if (run.runner_id !== runnerId || run.message_id !== messageId) {
        throw new LeaseLost('messageId is stale or not yours: this lease is lost, stop the run');
      }
      if (isFinal(run.state)) throw new Conflict(`run is already ${run.state}: stop it`);
      if (run.state !== RunState.Running) throw new LeaseLost('run is not running under this lease: stop it');

      const current = Number(run.log_offset);
      if (offset > current) {
        throw new OffsetGap(`offset ${offset} is beyond the ${current} bytes stored: resend from expectedOffset`, current);
      }
      const fresh = bytes.subarray(Math.min(bytes.length, current - offset));
      let stored = Number(run.log_stored);
      let known: KnownTail | undefined;
      if (fresh.length > 0) {
        let data: Buffer = fresh;
        if (run.secrets.length > 0) ({ keep: data, known } = await this.maskSecrets(tx, run, fresh));
        await this.store(tx, runId, stored, data);
        stored += data.length;
      }
      const newOffset = current + fresh.length;
      if (fresh.length > 0 || !run.acknowledged) {
        await tx.query(`UPDATE run SET log_offset = $2, log_stored = $3, acknowledged = true WHERE id = $1`, [
          runId,
          newOffset,
          stored,
        ]);
      }
      return { offset: newOffset, cancel: run.cancel_requested_at !== null, grew: fresh.length > 0, known };
    });
    if (result.known) this.remember(runId, messageId, result.known);
    if (result.grew) this.appended.emit(runId);
    return { offset: result.offset, cancel: result.cancel };
  }

  /** Stores `data` at position `pos`: its head part, its tail part, and drops the tail chunks now out of the window. */
  private async store(tx: EntityManager, runId: string, pos: number, data: Buffer): Promise<void> {
    const placement = place(this.window, pos, data.length);
    for (const part of placement.parts) {
      const bytes = data.subarray(part.start, part.end);
      const packed = await packChunk(bytes);
      await tx.query(`INSERT INTO run_log_chunk (run_id, pos, data, len, deflated) VALUES ($1, $2, $3, $4, $5)`, [
        runId,
        pos + part.start,
        packed.data,
        bytes.length,
        packed.deflated,
      ]);
    }
    if (placement.dropBefore !== null) {
      await tx.query(`DELETE FROM run_log_chunk WHERE run_id = $1 AND pos >= $2 AND pos + len <= $3`, [
        runId,
        this.window.head,
        placement.dropBefore,
      ]);
    }
  }

  /**
   * Server-side masking for a runner that does not mask: any value of the run's secrets in the
   * new bytes, or cut between the stored tail and them, becomes `*` per byte (offsets unchanged).
   * Stored tail bytes that change are rewritten in their chunks. Inside the run's row lock.
   */
  private async maskSecrets(tx: EntityManager, run: RunRow, keep: Buffer): Promise<{ keep: Buffer; known?: KnownTail }> {
    const { secrets, scan } = await this.secretValues(tx, run);
    if (secrets.length === 0) return { keep };
    const longest = scan.longest;
    const stored = Number(run.log_stored);
    const from = Math.max(0, stored - (longest - 1));
    const rows: Array<{ pos: string; data: Buffer; deflated: boolean }> =
      from < stored
        ? await tx.query(`SELECT pos, data, deflated FROM run_log_chunk WHERE run_id = $1 AND pos + len > $2 ORDER BY pos`, [run.id, from])
        : [];
    const all = rows.map((r) => ({ pos: Number(r.pos), data: unpackChunk(r.data, r.deflated) }));
    // Only the chunks that run without a break up to the end of the log: past LOG_MAX_BYTES the
    // dropped range cuts it (src/run/log-window.ts), and what lies before the cut is not adjacent.
    let first = all.length;
    while (first > 0 && all[first - 1].pos + all[first - 1].data.length === (first === all.length ? stored : all[first].pos)) first--;
    const chunks = all.slice(first);
    const tailStart = chunks.length > 0 ? Math.max(from, chunks[0].pos) : stored;
    const tail = chunks.length > 0 ? Buffer.concat(chunks.map((c) => c.data)).subarray(tailStart - chunks[0].pos) : Buffer.alloc(0);
    if (!scan.occursIn(tail, keep)) return { keep, known: { secrets, scan, tail: lastBytesOf(tail, keep, longest - 1), storedEnd: stored + keep.length } };
    const masked = maskValues(tail, keep, secrets);
    const known: KnownTail = { secrets, scan, tail: lastBytes(masked.bytes, longest - 1), storedEnd: stored + keep.length };
    if (masked.firstChanged < tail.length) {
      // Part of a value was stored with the previous chunk: overwrite it there too.
      for (const c of chunks) {
        const start = Math.max(c.pos, tailStart);
        const end = c.pos + c.data.length;
        if (end <= tailStart + masked.firstChanged) continue;
        const updated = Buffer.from(c.data);
        masked.bytes.copy(updated, start - c.pos, start - tailStart, end - tailStart);
        const packed = await packChunk(updated);
        await tx.query(`UPDATE run_log_chunk SET data = $3, deflated = $4 WHERE run_id = $1 AND pos = $2`, [run.id, c.pos, packed.data, packed.deflated]);
      }
    }
    this.leakCaught(run, run.runner_id, masked.found);
    return { keep: masked.bytes.subarray(tail.length), known };
  }

  /**
   * Masks new bytes of a run with secrets against the stored tail this process remembers from
   * its previous append (no query). Undefined when it knows none, or when a value is cut between
   * that tail and the new bytes: the locked path then rewrites the stored part too. `commit`
   * moves the remembered tail on once the append was stored.
   */
  private maskWithKnownTail(runId: string, runnerId: string, messageId: string, bytes: Buffer): { bytes: Buffer; storedEnd: number; commit(): void } | undefined {
    const key = `${runId}/${messageId}`;
    const entry = this.maskCache.get(key);
    if (!entry?.known || entry.until <= Date.now()) return undefined;
    const known = entry.known;
    const keep = known.scan.longest - 1;
    // The common case (a runner that masks): nothing found, the bytes go as they came.
    if (!known.scan.occursIn(known.tail, bytes)) {
      return {
        bytes,
        storedEnd: known.storedEnd,
        commit: () => {
          entry.known = { ...known, tail: lastBytesOf(known.tail, bytes, keep), storedEnd: known.storedEnd + bytes.length };
        },
      };
    }
    const masked = maskValues(known.tail, bytes, known.secrets);
    if (masked.firstChanged < known.tail.length) return undefined;
    return {
      bytes: masked.bytes.subarray(known.tail.length),
      storedEnd: known.storedEnd,
      commit: () => {
        if (masked.found.length > 0) this.leakCaught({ id: runId, namespace: entry.namespace }, runnerId, masked.found);
        entry.known = { ...known, tail: lastBytes(masked.bytes, keep), storedEnd: known.storedEnd + bytes.length };
      },
    };
  }

  private remember(runId: string, messageId: string, known: KnownTail): void {
    const entry = this.maskCache.get(`${runId}/${messageId}`);
    if (entry) entry.known = known;
  }

  private leakCaught(run: Pick<RunRow, 'id' | 'namespace'>, runnerId: string | null, names: string[]): void {
    this.logger.warn(`run ${run.id}${runnerId ? ` (runner ${runnerId})` : ''}: the runner sent the value of secret(s) ${names.join(', ')} in clear; stored as *`);
    this.secrets.leakCaught(run.namespace, names, run.id, runnerId).catch((err: unknown) => {
      this.logger.warn(`could not record secret.leak_caught for run ${run.id}: ${(err as Error).message}`);
    });
  }

  /**
   * This process hands the run out with these secret values (heartbeat.service.ts): kept for its
   * log masking, so that the lease's first log part needs neither a decryption nor, when nothing
   * is stored yet, the locked path.
   */
  primeMasking(run: Pick<RunRow, 'id' | 'message_id' | 'namespace' | 'log_stored'>, values: Map<string, string>): void {
    if (!run.message_id) return;
    const entry = this.cacheSecrets(`${run.id}/${run.message_id}`, run.namespace, values);
    // An empty stored log: its tail is known (nothing). The fast path checks it is still empty.
    if (Number(run.log_stored) === 0) entry.known = { secrets: entry.secrets, scan: entry.scan, tail: Buffer.alloc(0), storedEnd: 0 };
  }

  /** The values of a run's secrets, cached per lease for a minute (decrypted once, not per update). */
  private async secretValues(tx: EntityManager, run: RunRow): Promise<{ secrets: SecretValue[]; scan: SecretScan }> {
    const key = `${run.id}/${run.message_id}`;
    const hit = this.maskCache.get(key);
    if (hit && hit.until > Date.now()) return hit;
    const { values } = await this.secrets.openFor(run.namespace, run.secrets, (sql, params) => tx.query(sql, params));
    return this.cacheSecrets(key, run.namespace, values);
  }

  private cacheSecrets(key: string, namespace: string, values: Map<string, string>): MaskEntry {
    const secrets = [...values].map(([name, value]) => ({ name, value: Buffer.from(value, 'utf8') }));
    this.maskCache.delete(key);
    if (this.maskCache.size >= MASK_CACHE_RUNS) this.maskCache.delete(this.maskCache.keys().next().value as string);
    const entry: MaskEntry = { namespace, secrets, scan: new SecretScan(secrets), until: Date.now() + MASK_CACHE_MS };
    this.maskCache.set(key, entry);
    return entry;
  }

  get shutdownSignal(): AbortSignal {
    return this.closing.signal;
  }

  beforeApplicationShutdown(): void {
    this.closing.abort();
  }

  /** The log from position `from` on (with the gap's marker line if it crosses the gap). */
  async read(runId: string, from: number): Promise<Buffer> {
    return (await this.readFrom(runId, from)).data;
  }

  /**
   * The log from position `from` on, and the position it reaches (`next`): where a follower reads
   * on. Past the cap, `data` is longer or shorter than `next - from` (the marker, the gap).
   */
  async readFrom(runId: string, from: number): Promise<{ data: Buffer; next: number; parts: LogPart[] }> {
    const chunks: Array<{ pos: string; data: Buffer; deflated: boolean }> = await this.db.query(
      `SELECT pos, data, deflated FROM run_log_chunk WHERE run_id = $1 AND pos + len > $2 ORDER BY pos`,
      [runId, from],
    );
    return assemble(
      this.window,
      chunks.map((c) => ({ pos: Number(c.pos), data: unpackChunk(c.data, c.deflated) })),
      from,
    );
  }
}
