import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** One key of the SECRETS_KEYS ring: an id stored with every value it encrypts, 32 bytes of key. */
export interface SecretKey {
  id: string;
  key: Buffer;
}

/** What the `secret` table stores for one value: never the value itself. */
export interface Sealed {
  keyId: string;
  /** 12 random bytes, fresh for every write. */
  nonce: Buffer;
  /** AES-256-GCM ciphertext followed by its 16-byte tag. */
  ciphertext: Buffer;
}

export const KEY_ID_PATTERN = /^[A-Za-z0-9_.-]{1,32}$/;
const TAG_BYTES = 16;

export class KeyRingError extends Error {}

/**
 * Parses `SECRETS_KEYS`: `id:base64key,...`, each key 32 bytes (AES-256). The first key encrypts,
 * every key decrypts. Messages name the entry by its id, never show a key.
 */
export function parseKeyRing(raw: string, variable = 'SECRETS_KEYS'): SecretKey[] {
  const ring: SecretKey[] = [];
  for (const [i, entry] of raw.split(',').map((e) => e.trim()).entries()) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    if (!KEY_ID_PATTERN.test(id)) {
      throw new KeyRingError(`${variable} entry ${i + 1} must be id:base64key with an id of 1–32 letters, digits, ".", "_" or "-"`);
    }
    const b64 = entry.slice(colon + 1);
    const key = Buffer.from(b64, 'base64');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || key.length !== 32) {
      throw new KeyRingError(`${variable} key "${id}" must be 32 bytes in base64 (e.g. \`openssl rand -base64 32\`)`);
    }
    if (ring.some((k) => k.id === id)) throw new KeyRingError(`${variable} names key "${id}" twice`);
    ring.push({ id, key });
  }
  return ring;
}

export function newKey(id: string): SecretKey {
  return { id, key: randomBytes(32) };
}

export function formatKey(k: SecretKey): string {
  return `${k.id}:${k.key.toString('base64')}`;
}

/** The namespace and name bound into the ciphertext: a value copied to another row does not decrypt. */
function associatedData(namespace: string, name: string): Buffer {
  return Buffer.from(`pulse-secret\u0000${namespace}\u0000${name}`, 'utf8');
}

/** Encrypts with the ring's first key and a fresh 12-byte nonce. */
export function seal(ring: SecretKey[], namespace: string, name: string, value: Buffer): Sealed {
  const { id, key } = ring[0];
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(associatedData(namespace, name));
  const ciphertext = Buffer.concat([cipher.update(value), cipher.final(), cipher.getAuthTag()]);
  return { keyId: id, nonce, ciphertext };
}

/**
 * Decrypts a stored value; throws a KeyRingError when the ring lacks its key, or when the key,
 * the namespace or the name do not match (GCM's tag check fails).
 */
export function open(ring: SecretKey[], namespace: string, name: string, sealed: Sealed): Buffer {
  const k = ring.find((r) => r.id === sealed.keyId);
  if (!k) throw new KeyRingError(`SECRETS_KEYS has no key "${sealed.keyId}"`);
  if (sealed.ciphertext.length < TAG_BYTES) throw new KeyRingError(`the stored value of ${namespace}/${name} is damaged`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', k.key, sealed.nonce);
    decipher.setAAD(associatedData(namespace, name));
    decipher.setAuthTag(sealed.ciphertext.subarray(sealed.ciphertext.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.ciphertext.subarray(0, sealed.ciphertext.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new KeyRingError(`key "${k.id}" of SECRETS_KEYS does not decrypt ${namespace}/${name}: a wrong key, or a value moved to another row`);
  }
}
