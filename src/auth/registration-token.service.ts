import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomBytes, randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Cursors } from '../common/common.module';
import { InvalidInput, NotFound, Unauthenticated } from '../common/errors';
import { DEFAULT_LIMIT, Page, PageQuery } from '../common/pagination';
import { secretEquals, sha256 } from '../common/secrets';
import { returned } from '../common/sql';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import {
  CreatedRegistrationToken,
  CreateRegistrationTokenRequest,
  mapRegistrationToken,
  RegistrationTokenRow,
  RegistrationTokenSummary,
} from './registration-token.dto';
import type { Actor } from './scopes';

export const REGISTRATION_TOKEN_PREFIX = 'pulse_reg_';
const REGISTRATION_TOKEN_SHAPE = /^pulse_reg_[A-Za-z0-9_-]{43}$/;

/** What a registration token gives the runner registered with it. */
export interface RegistrationGrant {
  /** null: the bootstrap RUNNER_REGISTRATION_TOKEN. */
  tokenId: string | null;
  labels: string[];
  /** null: runs of every namespace. */
  namespaces: string[] | null;
}

/**
 * Registration tokens (SPEC section 12): named, with labels, namespaces, an expiry and a use
 * limit, counted atomically. `RUNNER_REGISTRATION_TOKEN` stays the bootstrap one.
 */
@Injectable()
export class RegistrationTokenService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly audit: AuditService,
    private readonly cursors: Cursors,
  ) {}

  /**
   * Uses a registration token inside the registration's transaction: one use is counted only if
   * the runner is registered. 401 for an unknown, revoked, expired or used-up token.
   */
  async consume(tx: EntityManager, token: string): Promise<RegistrationGrant> {
    if (secretEquals(token, this.config.registrationToken)) return { tokenId: null, labels: [], namespaces: null };
    if (!REGISTRATION_TOKEN_SHAPE.test(token)) throw new Unauthenticated('Invalid registration token');
    const digest = sha256(token);
    const rows = returned<RegistrationTokenRow>(
      await tx.query(
        `UPDATE registration_token SET uses = uses + 1
         WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
           AND (max_uses IS NULL OR uses < max_uses)
         RETURNING *`,
        [digest],
      ),
    );
    if (rows[0]) return { tokenId: rows[0].id, labels: rows[0].labels, namespaces: rows[0].namespaces };
    const [row]: RegistrationTokenRow[] = await tx.query(`SELECT * FROM registration_token WHERE token_hash = $1`, [digest]);
    if (!row) throw new Unauthenticated('Invalid registration token');
    if (row.revoked_at) throw new Unauthenticated('Registration token revoked');
    if (row.max_uses !== null && row.uses >= row.max_uses) throw new Unauthenticated('Registration token used up');
    throw new Unauthenticated('Registration token expired');
  }

  async create(req: CreateRegistrationTokenRequest, actor: Actor): Promise<CreatedRegistrationToken> {
    const expiresAt = req.expires_at ? new Date(req.expires_at) : null;
    if (expiresAt && expiresAt.getTime() <= Date.now()) throw new InvalidInput('expires_at must be in the future');
    const id = randomUUID();
    const token = REGISTRATION_TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const labels = [...new Set(req.labels ?? [])];
    const namespaces = req.namespaces ? [...new Set(req.namespaces)] : null;
    const row = await this.db.transaction(async (tx) => {
      const rows: RegistrationTokenRow[] = await tx.query(
        `INSERT INTO registration_token (id, name, token_hash, labels, namespaces, expires_at, max_uses)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
        [id, req.name, sha256(token), labels, namespaces, expiresAt, req.max_uses ?? null],
      );
      await this.audit.record(tx, actor, 'registration_token.created', { type: 'registration_token', id }, {
        name: req.name,
        labels,
        namespaces,
        max_uses: req.max_uses ?? null,
      });
      return rows[0];
    });
    return { ...mapRegistrationToken(row), token };
  }

  async list(query: PageQuery): Promise<Page<RegistrationTokenSummary>> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const before = query.cursor ? this.cursors.decode('registration_token', query.cursor) : null;
    const rows: RegistrationTokenRow[] = await this.db.query(
      `SELECT * FROM registration_token WHERE ($1::bigint IS NULL OR seq < $1) ORDER BY seq DESC LIMIT $2`,
      [before, limit + 1],
    );
    return this.cursors.page('registration_token', rows, limit, mapRegistrationToken);
  }

  /** Revokes a registration token: later registrations with it get 401. Runners it registered stay. */
  async revoke(id: string, actor: Actor): Promise<RegistrationTokenSummary> {
    return this.db.transaction(async (tx) => {
      const rows = returned<RegistrationTokenRow & { was_revoked: boolean }>(
        await tx.query(
          `UPDATE registration_token t SET revoked_at = COALESCE(t.revoked_at, now())
           FROM registration_token old WHERE t.id = $1 AND old.id = t.id
           RETURNING t.*, old.revoked_at IS NOT NULL AS was_revoked`,
          [id],
        ),
      );
      if (!rows[0]) throw new NotFound(`registration token ${id} does not exist`);
      if (!rows[0].was_revoked) {
        await this.audit.record(tx, actor, 'registration_token.revoked', { type: 'registration_token', id }, { name: rows[0].name });
      }
      return mapRegistrationToken(rows[0]);
    });
  }
}
