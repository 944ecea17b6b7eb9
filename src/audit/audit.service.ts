import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import type { Actor } from '../auth/scopes';
import { Cursors } from '../common/common.module';
import { DEFAULT_LIMIT, Page } from '../common/pagination';
import { AuditEntry, AuditListQuery, AuditRow, mapAuditEntry } from './audit.dto';

/** Every action the audit log records (SPEC section 12). */
export type AuditAction =
  | 'token.created'
  | 'token.revoked'
  | 'registration_token.created'
  | 'registration_token.revoked'
  | 'secret.set'
  | 'secret.deleted'
  | 'secret.leak_caught'
  | 'namespace.put'
  | 'namespace.deleted'
  | 'run.submitted'
  | 'run.canceled'
  | 'batch.canceled'
  | 'runner.registered'
  | 'runner.deregistered'
  | 'runner.enabled'
  | 'runner.disabled'
  | 'runner.token_rotated'
  | 'workload.created'
  | 'workload.changed'
  | 'workload.deleted'
  | 'instance.created'
  | 'instance.changed'
  | 'instance.deleted'
  | 'auth.denied';

export interface AuditSubject {
  type: string;
  id: string;
}

/** How many source addresses the denial limiter remembers before it starts over. */
const MAX_DENIED_SOURCES = 10_000;
const DENIED_EVERY_MS = 60_000;

/**
 * The append-only audit log. `record()` writes inside the caller's transaction, so an entry
 * exists exactly when the change it records was committed. Callers pass names and ids only:
 * never a token or a secret value (`data` is stored as given).
 */
@Injectable()
export class AuditService {
  private readonly logger = new Logger(AuditService.name);
  /** Source address → when this process last recorded a denial for it. */
  private readonly denied = new Map<string, number>();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly cursors: Cursors,
  ) {}

  async record(
    tx: EntityManager,
    actor: Actor,
    action: AuditAction,
    subject: AuditSubject | null,
    data: Record<string, unknown> = {},
  ): Promise<void> {
    await tx.query(
      `INSERT INTO audit_log (actor_type, actor_id, actor_name, action, subject_type, subject_id, ip, data)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [actor.type, actor.id, actor.name, action, subject?.type ?? null, subject?.id ?? null, actor.ip, JSON.stringify(data)],
    );
  }

  /**
   * A refused request (401 or 403): at most one entry per source address and minute, in every
   * process together (a scanner cannot flood the log). Never waits for the write, never fails
   * the request.
   */
  deniedRequest(ip: string | null, status: number, method: string, path: string, reason: string): void {
    const source = ip ?? 'unknown';
    const now = Date.now();
    const last = this.denied.get(source);
    if (last !== undefined && now - last < DENIED_EVERY_MS) return;
    if (this.denied.size >= MAX_DENIED_SOURCES) this.denied.clear();
    this.denied.set(source, now);
    this.db
      .transaction(async (tx) => {
        // One writer per address at a time, in every process: the look and the insert are one step.
        await tx.query(`SELECT pg_advisory_xact_lock(hashtext('pulse.auth.denied:' || coalesce($1, '')))`, [ip]);
        await tx.query(
          `INSERT INTO audit_log (actor_type, action, ip, data)
           SELECT 'system', 'auth.denied', $1, $2
           WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE action = 'auth.denied' AND ip IS NOT DISTINCT FROM $1 AND at > now() - interval '1 minute')`,
          [ip, JSON.stringify({ status, method, path: path.split('?')[0], reason })],
        );
      })
      .catch((err: unknown) => this.logger.warn(`cannot record a denied request: ${(err as Error).message}`));
  }

  async list(query: AuditListQuery): Promise<Page<AuditEntry>> {
    const limit = query.limit ?? DEFAULT_LIMIT;
    const before = query.cursor ? this.cursors.decode('audit', query.cursor) : null;
    const rows: AuditRow[] = await this.db.query(
      `SELECT id AS seq, * FROM audit_log
       WHERE ($1::text IS NULL OR action = $1) AND ($2::timestamptz IS NULL OR at >= $2)
         AND ($3::bigint IS NULL OR id < $3)
       ORDER BY id DESC LIMIT $4`,
      [query.action ?? null, query.since ?? null, before, limit + 1],
    );
    return this.cursors.page('audit', rows, limit, mapAuditEntry);
  }
}
