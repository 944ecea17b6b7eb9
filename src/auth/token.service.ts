import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Cursors } from '../common/common.module';
import { InvalidInput, NotFound, Unauthenticated } from '../common/errors';
import { DEFAULT_LIMIT, Page, PageQuery } from '../common/pagination';
import { secretEquals, sha256Hex } from '../common/secrets';
import { returned } from '../common/sql';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { WorkSignal } from '../database/work-signal';
import type { Actor, Caller } from './scopes';
import { TokenCache } from './token-cache';
import { CreatedToken, CreateTokenRequest, mapToken, TokenRow, TokenSummary } from './token.dto';

/** Prefix of every API token, so secret scanners can spot a leaked one. */
export const API_TOKEN_PREFIX = 'pulse_pat_';
/** The exact shape of an API token: the prefix and 32 random bytes in base64url. */
const API_TOKEN_SHAPE = /^pulse_pat_[A-Za-z0-9_-]{43}$/;

const DAY_MS = 86_400_000;
export const DEFAULT_TOKEN_DAYS = 90;
export const MAX_TOKEN_DAYS = 365;
/** `last_used_at` is written at most this often per token and process. */
const LAST_USED_EVERY_MS = 5 * 60_000;

/**
 * API tokens (SPEC section 12): created with scopes, optional namespaces and an expiry, shown
 * once, stored as SHA-256 hashes, checked in constant time, revoked at once in every process.
 * `ADMIN_TOKEN` stays the bootstrap admin.
 */
@Injectable()
export class TokenService {
  private readonly logger = new Logger(TokenService.name);
  /** Token id → when this process last wrote (or read) its last_used_at. */
  private readonly lastUsed = new Map<string, number>();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly cache: TokenCache,
    private readonly signal: WorkSignal,
    private readonly audit: AuditService,
    private readonly cursors: Cursors,
  ) {}

  /**
   * The caller a bearer token stands for. 401 for none, an unknown one, a malformed one, and an
   * expired or revoked one (the message says which). Never queries with an empty or malformed
   * value (typeorm #9316).
   */
  async authenticate(token: string, ip: string | null): Promise<Caller> {
    if (!token) throw new Unauthenticated('Missing bearer token: send Authorization: Bearer <token>');
    if (secretEquals(token, this.config.adminToken)) {
      return { actor: { type: 'bootstrap', id: null, name: 'ADMIN_TOKEN', ip }, scopes: ['admin'], namespaces: null };
    }
    if (!API_TOKEN_SHAPE.test(token)) throw new Unauthenticated('Invalid token');
    const key = sha256Hex(token);
    const now = Date.now();
    const hit = this.cache.get(key);
    if (hit) {
      if (hit.expiresAt <= now) throw new Unauthenticated('Token expired');
      this.used(hit.tokenId, now);
      return { ...hit.caller, actor: { ...hit.caller.actor, ip } };
    }
    const digest = Buffer.from(key, 'hex');
    const version = this.cache.version;
    const rows: TokenRow[] = await this.db.query(`SELECT * FROM api_token WHERE token_hash = $1`, [digest]);
    const row = rows[0];
    if (!row || !timingSafeEqual(row.token_hash, digest)) throw new Unauthenticated('Invalid token');
    if (row.revoked_at) throw new Unauthenticated('Token revoked');
    if (row.expires_at.getTime() <= now) throw new Unauthenticated('Token expired');
    const caller: Caller = {
      actor: { type: 'token', id: row.id, name: row.name, ip: null },
      scopes: row.scopes,
      namespaces: row.namespaces,
    };
    this.cache.remember(key, { caller, tokenId: row.id, expiresAt: row.expires_at.getTime() }, version);
    if (!this.lastUsed.has(row.id) && row.last_used_at) this.lastUsed.set(row.id, row.last_used_at.getTime());
    this.used(row.id, now);
    return { ...caller, actor: { ...caller.actor, ip } };
  }

  /** Writes last_used_at when this process has not for LAST_USED_EVERY_MS; never waits for it. */
  private used(id: string, now: number): void {
    const last = this.lastUsed.get(id);
    if (last !== undefined && now - last < LAST_USED_EVERY_MS) return;
    if (this.lastUsed.size >= 100_000) this.lastUsed.clear();
    this.lastUsed.set(id, now);
    this.db
      .query(`UPDATE api_token SET last_used_at = now() WHERE id = $1`, [id])
      .catch((err: unknown) => this.logger.warn(`cannot write last_used_at: ${(err as Error).message}`));
  }

  async create(req: CreateTokenRequest, actor: Actor): Promise<CreatedToken> {
    const now = Date.now();
    const expiresAt = req.expires_at ? new Date(req.expires_at) : new Date(now + DEFAULT_TOKEN_DAYS * DAY_MS);
    if (expiresAt.getTime() <= now) throw new InvalidInput('expires_at must be in the future');
    if (expiresAt.getTime() > now + MAX_TOKEN_DAYS * DAY_MS) {
      throw new InvalidInput(`expires_at must be at most ${MAX_TOKEN_DAYS} days from now`);
    }
    const scopes = [...new Set(req.scopes)];
    const namespaces = req.namespaces ? [...new Set(req.namespaces)] : null;
    if (namespaces && scopes.includes('admin')) {
      throw new InvalidInput('namespaces cannot be combined with the admin scope: admin reaches runners, tokens and audit, which belong to no namespace');
    }
    const id = randomUUID();
    const token = API_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const row = await this.db.transaction(async (tx) => {
      const rows: TokenRow[] = await tx.query(
        `INSERT INTO api_token (id, name, token_hash, scopes, namespaces, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
        [id, req.name, Buffer.from(sha256Hex(token), 'hex'), scopes, namespaces, expiresAt],
      );
      await this.audit.record(tx, actor, 'token.created', { type: 'token', id }, { name: req.name, scopes, namespaces });
      return rows[0];
    });
    return { ...mapToken(row), token };
  }

  async list(query: PageQuery): Promise<Page<TokenSummary>> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const before = query.cursor ? this.cursors.decode('token', query.cursor) : null;
    const rows: TokenRow[] = await this.db.query(
      `SELECT * FROM api_token WHERE ($1::bigint IS NULL OR seq < $1) ORDER BY seq DESC LIMIT $2`,
      [before, limit + 1],
    );
    return this.cursors.page('token', rows, limit, mapToken);
  }

  /** Revokes a token in every process at once. Revoking twice changes nothing. */
  async revoke(id: string, actor: Actor): Promise<TokenSummary> {
    const row = await this.db.transaction(async (tx) => {
      const rows = returned<TokenRow & { was_revoked: boolean }>(
        await tx.query(
          `UPDATE api_token t SET revoked_at = COALESCE(t.revoked_at, now())
           FROM api_token old WHERE t.id = $1 AND old.id = t.id
           RETURNING t.*, old.revoked_at IS NOT NULL AS was_revoked`,
          [id],
        ),
      );
      if (!rows[0]) throw new NotFound(`token ${id} does not exist`);
      if (!rows[0].was_revoked) {
        await this.audit.record(tx, actor, 'token.revoked', { type: 'token', id }, { name: rows[0].name });
        await this.signal.announceForget('token', id, (sql, params) => tx.query(sql, params));
      }
      return rows[0];
    });
    this.cache.forget(id);
    return mapToken(row);
  }
}
