import { KeyRingError, open, seal, type Sealed, type SecretKey } from './secret-crypto';

/** Runs one SQL statement: a DataSource's, an EntityManager's or a pg client's `query`. */
export type Query = (sql: string, params?: unknown[]) => Promise<unknown>;

interface SealedRow {
  namespace: string;
  name: string;
  key_id: string;
  nonce: Buffer;
  ciphertext: Buffer;
}

const sealedOf = (r: SealedRow): Sealed => ({ keyId: r.key_id, nonce: r.nonce, ciphertext: r.ciphertext });

/**
 * The start-up check: every key id the stored secrets use must be in the ring, and must decrypt
 * one of them. A missing or wrong key stops start-up here, with a message that says what to do,
 * instead of a failed dispatch later.
 */
export async function checkKeyRing(query: Query, ring: SecretKey[]): Promise<void> {
  const rows = (await query(
    `SELECT DISTINCT ON (key_id) namespace, name, key_id, nonce, ciphertext FROM secret ORDER BY key_id, updated_at DESC`,
  )) as SealedRow[];
  const known = ring.map((k) => `"${k.id}"`).join(', ');
  for (const row of rows) {
    if (!ring.some((k) => k.id === row.key_id)) {
      throw new KeyRingError(
        `secrets are stored encrypted with key "${row.key_id}", which the key ring (${known}) does not have: ` +
          `add it to SECRETS_KEYS (or restore DATA_DIR/secrets.key)`,
      );
    }
    try {
      open(ring, row.namespace, row.name, sealedOf(row));
    } catch {
      throw new KeyRingError(
        `key "${row.key_id}" of the key ring does not decrypt the secrets stored with that id: it is the wrong key ` +
          `(check SECRETS_KEYS or DATA_DIR/secrets.key)`,
      );
    }
  }
}

/** What a key's canary holds, under the namespace and name below (no real secret can have them). */
const CANARY_VALUE = Buffer.from('pulse secrets key check');
const CANARY_NAMESPACE = '\u0000canary';

/**
 * The second start-up check: every key of the ring that has a canary (written when the key first
 * encrypted a secret here) must decrypt it. So a key that differs from the one the database knew
 * by its id (two hosts that each generated their own `default`) is refused at start-up even
 * after every secret it encrypted was deleted or rewrapped.
 */
export async function checkCanaries(query: Query, ring: SecretKey[]): Promise<void> {
  const rows = (await query(`SELECT key_id, nonce, ciphertext FROM secret_key_canary WHERE key_id = ANY($1::text[])`, [
    ring.map((k) => k.id),
  ])) as Array<{ key_id: string; nonce: Buffer; ciphertext: Buffer }>;
  for (const row of rows) {
    const key = ring.find((k) => k.id === row.key_id) as SecretKey;
    if (!canaryOpens(key, row)) throw wrongKey(key.id);
  }
}

/**
 * Before a key encrypts its first secret: writes its canary if the database has none for its id,
 * and checks that the one there is this key's. Throws a KeyRingError when it is not.
 */
export async function ensureCanary(query: Query, key: SecretKey): Promise<void> {
  const sealed = seal([key], CANARY_NAMESPACE, key.id, CANARY_VALUE);
  await query(`INSERT INTO secret_key_canary (key_id, nonce, ciphertext) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING`, [
    key.id,
    sealed.nonce,
    sealed.ciphertext,
  ]);
  const [row] = (await query(`SELECT nonce, ciphertext FROM secret_key_canary WHERE key_id = $1`, [key.id])) as Array<{
    nonce: Buffer;
    ciphertext: Buffer;
  }>;
  if (!canaryOpens(key, row)) throw wrongKey(key.id);
}

function canaryOpens(key: SecretKey, row: { nonce: Buffer; ciphertext: Buffer }): boolean {
  try {
    return open([key], CANARY_NAMESPACE, key.id, { keyId: key.id, nonce: row.nonce, ciphertext: row.ciphertext }).equals(CANARY_VALUE);
  } catch {
    return false;
  }
}

function wrongKey(id: string): KeyRingError {
  return new KeyRingError(
    `key "${id}" of the key ring is not the key this database knows by that id: it is the wrong key ` +
      `(check SECRETS_KEYS or DATA_DIR/secrets.key; every process sharing the database needs the same keys)`,
  );
}

/**
 * Re-encrypts every stored value with the ring's first key (a fresh nonce each), in one
 * transaction the caller holds. Returns how many values were rewritten.
 */
export async function rewrapAll(query: Query, ring: SecretKey[]): Promise<number> {
  const rows = (await query(`SELECT namespace, name, key_id, nonce, ciphertext FROM secret ORDER BY namespace, name FOR UPDATE`)) as SealedRow[];
  for (const row of rows) {
    const value = open(ring, row.namespace, row.name, sealedOf(row));
    const sealed = seal(ring, row.namespace, row.name, value);
    value.fill(0);
    await query(`UPDATE secret SET key_id = $3, nonce = $4, ciphertext = $5 WHERE namespace = $1 AND name = $2`, [
      row.namespace,
      row.name,
      sealed.keyId,
      sealed.nonce,
      sealed.ciphertext,
    ]);
  }
  return rows.length;
}

/** Decrypts the named secrets of a namespace; `missing` is the first name it does not have. */
export async function openSecrets(
  query: Query,
  ring: SecretKey[],
  namespace: string,
  names: string[],
): Promise<{ values: Map<string, string>; missing?: string }> {
  const rows = (await query(
    `SELECT namespace, name, key_id, nonce, ciphertext FROM secret WHERE namespace = $1 AND name = ANY($2::text[])`,
    [namespace, names],
  )) as SealedRow[];
  const values = new Map<string, string>();
  for (const row of rows) values.set(row.name, open(ring, namespace, row.name, sealedOf(row)).toString('utf8'));
  return { values, missing: names.find((n) => !values.has(n)) };
}
