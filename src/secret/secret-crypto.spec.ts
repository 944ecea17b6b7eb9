import { randomBytes } from 'node:crypto';
import { formatKey, KeyRingError, newKey, open, parseKeyRing, seal } from './secret-crypto';

describe('secret crypto', () => {
  const k1 = newKey('k1');
  const k2 = newKey('k2');
  const value = Buffer.from('deploy-token-0123456789');

  it('round-trips with a fresh 12-byte nonce per write, and never stores the value', () => {
    const a = seal([k1], 'ns', 'TOKEN', value);
    const b = seal([k1], 'ns', 'TOKEN', value);
    expect(a.nonce).toHaveLength(12);
    expect(a.nonce.equals(b.nonce)).toBe(false);
    expect(a.ciphertext.equals(b.ciphertext)).toBe(false);
    expect(a.ciphertext.includes(value)).toBe(false);
    expect(open([k1], 'ns', 'TOKEN', a).equals(value)).toBe(true);
  });

  it('binds the namespace and the name: a value copied to another row does not decrypt', () => {
    const sealed = seal([k1], 'ns', 'TOKEN', value);
    expect(() => open([k1], 'ns', 'OTHER', sealed)).toThrow(KeyRingError);
    expect(() => open([k1], 'other', 'TOKEN', sealed)).toThrow(KeyRingError);
  });

  it('encrypts with the first key of the ring and decrypts with any; a wrong or missing key fails', () => {
    const sealed = seal([k2, k1], 'ns', 'TOKEN', value);
    expect(sealed.keyId).toBe('k2');
    expect(open([k1, k2], 'ns', 'TOKEN', sealed).equals(value)).toBe(true);
    expect(() => open([k1], 'ns', 'TOKEN', sealed)).toThrow('has no key "k2"');
    expect(() => open([{ id: 'k2', key: randomBytes(32) }], 'ns', 'TOKEN', sealed)).toThrow('does not decrypt');
  });

  it('parses SECRETS_KEYS and refuses bad entries by id, never showing a key', () => {
    const ring = parseKeyRing(`${formatKey(k1)}, ${formatKey(k2)}`);
    expect(ring.map((k) => k.id)).toEqual(['k1', 'k2']);
    expect(ring[0].key.equals(k1.key)).toBe(true);
    expect(() => parseKeyRing('k1')).toThrow('SECRETS_KEYS entry 1 must be id:base64key');
    expect(() => parseKeyRing('k1:c2hvcnQ=')).toThrow('SECRETS_KEYS key "k1" must be 32 bytes in base64');
    expect(() => parseKeyRing(`${formatKey(k1)},${formatKey(k1)}`)).toThrow('names key "k1" twice');
    try {
      parseKeyRing(`k1:${k1.key.toString('base64')}!`);
    } catch (err) {
      expect((err as Error).message).not.toContain(k1.key.toString('base64'));
    }
  });
});
