import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Actor } from '../auth/scopes';
import { Conflict, Forbidden, NotFound, Unauthenticated } from '../common/errors';
import { newRunnerToken, RUNNER_TOKEN_PREFIX, sha256, sha256Hex } from '../common/secrets';
import { returned } from '../common/sql';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { WorkSignal } from '../database/work-signal';
import { AuthenticatedRunner, RunnerCache } from './runner-cache';
import type { TokenOffer } from './runner.dto';

/** `pulse_rt_` and 32 random bytes in base64url (newRunnerToken): anything else is refused unread. */
const RUNNER_TOKEN_LENGTH = RUNNER_TOKEN_PREFIX.length + 43;

/** How long the previous token keeps working once its successor was used (SPEC section 12). */
const PREVIOUS_GRACE_MS = 10 * 60_000;

interface TokenRow {
  id: string;
  name: string;
  deregistered_at: Date | null;
  token_hash: Buffer;
  token_expires_at: Date | null;
  prev_token_hash: Buffer | null;
  prev_token_until: Date | null;
  offer_hash: Buffer | null;
  rotate_requested: boolean;
}

const TOKEN_COLUMNS = `id, name, deregistered_at, token_hash, token_expires_at, prev_token_hash, prev_token_until, offer_hash, rotate_requested`;

function same(a: Buffer | null, b: Buffer): boolean {
  return a !== null && a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Runner tokens (SPEC sections 2 and 12): checking them on every runner request (from memory
 * when recently seen), and rotating them. A token lives RUNNER_TOKEN_TTL; in its last quarter
 * every heartbeat answer offers a new one (only the latest offer is valid); the first request
 * with the offered token makes it current, and the old one keeps working 10 more minutes (never
 * past its own expiry). A lost answer costs nothing: the next heartbeat gets a fresh offer.
 */
@Injectable()
export class RunnerTokenService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly cache: RunnerCache,
    private readonly signal: WorkSignal,
    private readonly audit: AuditService,
  ) {}

  /** When a newly issued token expires (null: never). */
  expiryFromNow(): Date | null {
    return this.config.runnerTokenTtl > 0 ? new Date(Date.now() + this.config.runnerTokenTtl * 1000) : null;
  }

  /**
   * The runner of a token this process verified within the last minute (from memory: its SHA-256
   * and a map look-up, no query, no promise), or undefined: then `authenticate` decides. The
   * entry goes at once when the runner is deregistered, enabled, disabled or its tokens change
   * (in every process, RunnerCache), and never outlives the token.
   */
  known(token: string): AuthenticatedRunner | undefined {
    if (token.length !== RUNNER_TOKEN_LENGTH || !token.startsWith(RUNNER_TOKEN_PREFIX)) return undefined;
    return this.cache.token(sha256Hex(token));
  }

  /**
   * The runner a token belongs to. 401 for no token or one no runner has, 401 `runner token
   * expired` for an expired one, 403 (the exact body of SPEC section 2) for a deregistered
   * runner's token.
   */
  async authenticate(token: string, ip: string | null = null): Promise<AuthenticatedRunner> {
    // Never query with an empty credential (typeorm #9316: an undefined filter matches any row).
    if (!token) throw new Unauthenticated('Missing bearer token: send Authorization: Bearer <runner_token>');
    if (token.length !== RUNNER_TOKEN_LENGTH || !token.startsWith(RUNNER_TOKEN_PREFIX)) throw new Unauthenticated('Invalid runner token');
    const key = sha256Hex(token);
    const cached = this.cache.token(key);
    if (cached) return cached;
    const digest = Buffer.from(key, 'hex');
    const version = this.cache.version;
    const rows: TokenRow[] = await this.db.query(
      `SELECT ${TOKEN_COLUMNS} FROM runner WHERE token_hash = $1 OR prev_token_hash = $1 OR offer_hash = $1`,
      [digest],
    );
    const row = rows[0];
    if (!row) throw new Unauthenticated('Invalid runner token');
    if (row.deregistered_at) throw new Forbidden();
    const now = Date.now();
    if (same(row.token_hash, digest)) {
      const expires = row.token_expires_at?.getTime() ?? Infinity;
      if (expires <= now) throw new Unauthenticated('runner token expired');
      const found = { id: row.id, offerFrom: this.offerFrom(row) };
      this.cache.rememberToken(key, found, version, expires);
      return found;
    }
    if (same(row.offer_hash, digest)) {
      await this.promote(row, digest, ip);
      return this.authenticate(token, ip);
    }
    if (same(row.prev_token_hash, digest)) {
      const until = row.prev_token_until?.getTime() ?? 0;
      if (until <= now) throw new Unauthenticated('runner token expired');
      // A runner back on its previous token lost the new one: offer it another at once.
      const found = { id: row.id, offerFrom: 0 };
      this.cache.rememberToken(key, found, version, until);
      return found;
    }
    throw new Unauthenticated('Invalid runner token');
  }

  private offerFrom(row: TokenRow): number {
    if (row.rotate_requested) return 0;
    const expires = row.token_expires_at?.getTime();
    if (expires === undefined || this.config.runnerTokenTtl <= 0) return Infinity;
    return expires - (this.config.runnerTokenTtl * 1000) / 4;
  }

  /** The offered token was used: it becomes current; the old one works 10 more minutes. */
  private async promote(row: TokenRow, digest: Buffer, ip: string | null): Promise<void> {
    await this.db.transaction(async (tx) => {
      const done = returned<{ id: string }>(
        await tx.query(
          `UPDATE runner SET prev_token_hash = token_hash,
                  prev_token_until = LEAST(now() + $3 * interval '1 millisecond', COALESCE(token_expires_at, 'infinity')),
                  token_hash = offer_hash, token_expires_at = offer_expires_at,
                  offer_hash = NULL, offer_expires_at = NULL, rotate_requested = false
           WHERE id = $1 AND offer_hash = $2 AND deregistered_at IS NULL
           RETURNING id`,
          [row.id, digest, PREVIOUS_GRACE_MS],
        ),
      );
      // Another request with the same new token promoted it first: nothing left to do.
      if (!done.length) return;
      await this.audit.record(tx, { type: 'runner', id: row.id, name: row.name, ip }, 'runner.token_rotated', { type: 'runner', id: row.id }, {
        rotation: 'completed',
      });
    });
    // Every process re-reads this runner's tokens (the old one's validity changed).
    await this.signal.announceRunnerChanged(row.id, (sql, params) => this.db.query(sql, params));
  }

  /** A fresh offer, replacing any earlier one (only the latest is valid). Undefined when deregistered. */
  async offer(runnerId: string): Promise<TokenOffer | undefined> {
    const value = newRunnerToken();
    const expires = this.expiryFromNow();
    const rows = returned<{ id: string }>(
      await this.db.query(
        `UPDATE runner SET offer_hash = $2, offer_expires_at = $3 WHERE id = $1 AND deregistered_at IS NULL RETURNING id`,
        [runnerId, sha256(value), expires],
      ),
    );
    if (!rows.length) return undefined;
    return { value, expires_at: expires?.toISOString() ?? null };
  }

  /** `POST /api/runners/{id}/rotate-token`: the runner's next heartbeat answer offers a new token. */
  async requestRotation(runnerId: string, actor: Actor): Promise<void> {
    await this.db.transaction(async (tx) => {
      const rows: Array<{ id: string; deregistered_at: Date | null }> = await tx.query(
        `SELECT id, deregistered_at FROM runner WHERE id = $1 FOR UPDATE`,
        [runnerId],
      );
      if (!rows.length) throw new NotFound(`runner ${runnerId} does not exist`);
      if (rows[0].deregistered_at) throw new Conflict(`runner ${runnerId} is deregistered: it has no token to rotate`);
      await tx.query(`UPDATE runner SET rotate_requested = true WHERE id = $1`, [runnerId]);
      await this.audit.record(tx, actor, 'runner.token_rotated', { type: 'runner', id: runnerId }, { rotation: 'requested' });
    });
    await this.signal.announceRunnerChanged(runnerId, (sql, params) => this.db.query(sql, params));
  }
}
