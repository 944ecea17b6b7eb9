import { allows, widest } from './scopes';

describe('scopes in the dashboard', () => {
  it('a scope includes the narrower ones', () => {
    expect(allows(['read'], 'read')).toBe(true);
    expect(allows(['read'], 'write')).toBe(false);
    expect(allows(['read'], 'admin')).toBe(false);
    expect(allows(['write'], 'read')).toBe(true);
    expect(allows(['write'], 'write')).toBe(true);
    expect(allows(['write'], 'admin')).toBe(false);
    expect(allows(['admin'], 'write')).toBe(true);
    expect(allows(['read', 'admin'], 'admin')).toBe(true);
    expect(allows([], 'read')).toBe(false);
  });

  it('names the widest scope held', () => {
    expect(widest(['read'])).toBe('read');
    expect(widest(['read', 'write'])).toBe('write');
    expect(widest(['write', 'admin'])).toBe('admin');
  });
});
