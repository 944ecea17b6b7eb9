import { commaList, inDays, tokenStatus } from './forms';

describe('admin form helpers', () => {
  it('splits a comma list, dropping blanks and spaces', () => {
    expect(commaList(' linux, team-a ,,docker ')).toEqual(['linux', 'team-a', 'docker']);
    expect(commaList('   ')).toEqual([]);
  });

  it('turns days into an ISO expiry', () => {
    expect(inDays(30, Date.UTC(2026, 0, 1))).toBe('2026-01-31T00:00:00.000Z');
  });

  it('names a token row by its state', () => {
    const now = Date.UTC(2026, 5, 1);
    expect(tokenStatus({ revoked_at: null, expires_at: '2026-07-01T00:00:00Z' }, now)).toBe('active');
    expect(tokenStatus({ revoked_at: null, expires_at: null }, now)).toBe('active');
    expect(tokenStatus({ revoked_at: null, expires_at: '2026-05-01T00:00:00Z' }, now)).toBe('expired');
    expect(tokenStatus({ revoked_at: '2026-05-02T00:00:00Z', expires_at: '2026-05-01T00:00:00Z' }, now)).toBe('revoked');
  });
});
