import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { type Caller, seesNamespace, SYSTEM_ACTOR } from '../auth/scopes';
import { InvalidInput, NotFound, Unavailable } from '../common/errors';
import { returned } from '../common/sql';
import { ENV_NAME_PATTERN, NAME_PATTERN } from '../common/validation';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { KeyRingError, seal } from './secret-crypto';
import { SECRET_MAX_BYTES, SECRET_MIN_BYTES, SECRET_NAME_MAX, SecretRow } from './secret.dto';
import { checkCanaries, checkKeyRing, ensureCanary, openSecrets, type Query } from './secret-store';

const FOREIGN_KEY_VIOLATION = '23503';

/**
 * A namespace's secrets (SPEC section 11): write-only, encrypted at rest with the SECRETS_KEYS
 * ring. Values leave this service only decrypted for a run's assignment (openFor) or the log
 * masking of a run that uses them; no error message it throws ever holds one.
 */
@Injectable()
export class SecretService implements OnModuleInit {
  private readonly query: Query;
  /** The encrypting key's canary was checked (or written) by this process. */
  private canaryChecked = false;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
    private readonly audit: AuditService,
  ) {
    this.query = (sql, params) => this.db.query(sql, params);
  }

  /** Start-up: a missing or wrong key stops the app here (main.ts prints the message, exits 1). */
  async onModuleInit(): Promise<void> {
    await checkKeyRing(this.query, this.config.secretsKeys);
    await checkCanaries(this.query, this.config.secretsKeys);
  }

  async list(namespace: string, caller?: Caller): Promise<SecretRow[]> {
    await this.mustHaveNamespace(namespace, caller);
    return this.db.query(`SELECT name, created_at, updated_at FROM secret WHERE namespace = $1 ORDER BY name`, [namespace]);
  }

  /** Creates or replaces; `created` tells which (201 or 200). `created_at` survives a replace. */
  async put(namespace: string, name: string, value: string, caller?: Caller): Promise<{ secret: SecretRow; created: boolean }> {
    checkName(name);
    const bytes = checkValue(value);
    await this.mustHaveNamespace(namespace, caller);
    await this.checkEncryptingKey();
    const sealed = seal(this.config.secretsKeys, namespace, name, bytes);
    bytes.fill(0);
    try {
      return await this.db.transaction(async (tx) => {
        const rows: Array<SecretRow & { created: boolean }> = await tx.query(
          `INSERT INTO secret (namespace, name, key_id, nonce, ciphertext) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (namespace, name) DO UPDATE
             SET key_id = EXCLUDED.key_id, nonce = EXCLUDED.nonce, ciphertext = EXCLUDED.ciphertext, updated_at = now()
           RETURNING name, created_at, updated_at, (xmax = 0) AS created`,
          [namespace, name, sealed.keyId, sealed.nonce, sealed.ciphertext],
        );
        const { created, ...secret } = rows[0];
        // The name only, never the value (SPEC section 12).
        await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'secret.set', secretSubject(namespace, name), { namespace, name, created });
        return { secret, created };
      });
    } catch (err) {
      // The namespace was deleted between the check and the insert.
      if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) throw noNamespace(namespace);
      throw err;
    }
  }

  async delete(namespace: string, name: string, caller?: Caller): Promise<void> {
    await this.mustHaveNamespace(namespace, caller);
    await this.db.transaction(async (tx) => {
      const rows = returned(await tx.query(`DELETE FROM secret WHERE namespace = $1 AND name = $2 RETURNING name`, [namespace, name]));
      if (!rows.length) throw new NotFound(`namespace "${namespace}" has no secret named "${printable(name)}"`);
      await this.audit.record(tx, caller?.actor ?? SYSTEM_ACTOR, 'secret.deleted', secretSubject(namespace, name), { namespace, name });
    });
  }

  /**
   * A runner sent a secret's value in clear and the server masked it (SPEC section 11): one audit
   * entry per name, with the run and its runner; never the value.
   */
  async leakCaught(namespace: string, names: string[], runId: string, runnerId: string | null): Promise<void> {
    const actor = { type: 'runner' as const, id: runnerId, name: null, ip: null };
    await this.db.transaction(async (tx) => {
      for (const name of names) {
        await this.audit.record(tx, actor, 'secret.leak_caught', secretSubject(namespace, name), { namespace, name, run: runId, runner: runnerId });
      }
    });
  }

  /** For a submission: the first of `names` the namespace does not have, if any. */
  async firstMissing(query: Query, namespace: string, names: string[]): Promise<string | undefined> {
    if (names.length === 0) return undefined;
    const rows = (await query(`SELECT name FROM secret WHERE namespace = $1 AND name = ANY($2::text[])`, [namespace, names])) as Array<{
      name: string;
    }>;
    const have = new Set(rows.map((r) => r.name));
    return names.find((n) => !have.has(n));
  }

  /**
   * The decrypted values of a run's secrets (for its assignment or its log masking). Inside a
   * transaction, pass its `query`: the embedded database has one connection.
   */
  openFor(namespace: string, names: string[], query: Query = this.query): Promise<{ values: Map<string, string>; missing?: string }> {
    return openSecrets(query, this.config.secretsKeys, namespace, names);
  }

  /** Once per process: the key about to encrypt is the one the database knows by its id. */
  private async checkEncryptingKey(): Promise<void> {
    if (this.canaryChecked) return;
    try {
      await ensureCanary(this.query, this.config.secretsKeys[0]);
    } catch (err) {
      // Another process stored secrets with a different key of the same id since this one started.
      if (err instanceof KeyRingError) throw new Unavailable(`secrets cannot be stored: ${err.message}`);
      throw err;
    }
    this.canaryChecked = true;
  }

  /** The namespace exists and the caller may see it (a namespace-bound token sees its own only). */
  private async mustHaveNamespace(namespace: string, caller?: Caller): Promise<void> {
    if (!NAME_PATTERN.test(namespace) || !seesNamespace(caller, namespace)) throw noNamespace(namespace);
    const rows: unknown[] = await this.db.query(`SELECT 1 FROM namespace WHERE name = $1`, [namespace]);
    if (!rows.length) throw noNamespace(namespace);
  }
}

function secretSubject(namespace: string, name: string): { type: string; id: string } {
  return { type: 'secret', id: `${namespace}/${name}` };
}

function noNamespace(namespace: string): NotFound {
  return new NotFound(`namespace "${printable(namespace)}" does not exist`);
}

/** A name from the URL, shown only when it is short and plain (it is a name, but keep errors tidy). */
function printable(name: string): string {
  return /^[\x20-\x7e]{0,100}$/.test(name) ? name : '(invalid name)';
}

export function checkName(name: string): void {
  if (name.length > SECRET_NAME_MAX || !ENV_NAME_PATTERN.test(name)) {
    throw new InvalidInput(`secret name must be an environment variable name (^[A-Za-z_][A-Za-z0-9_]*$, at most ${SECRET_NAME_MAX} characters)`);
  }
}

/** The value's bytes, or a 400 that names the field and says nothing about what was sent. */
function checkValue(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length < SECRET_MIN_BYTES || bytes.length > SECRET_MAX_BYTES) {
    bytes.fill(0);
    throw new InvalidInput(`value must be ${SECRET_MIN_BYTES} to ${SECRET_MAX_BYTES} bytes (UTF-8)`);
  }
  if (value.trim() === '') throw new InvalidInput('value must not be only whitespace');
  if (value.includes('\u0000')) throw new InvalidInput('value must not contain a NUL character (\\u0000)');
  return bytes;
}
