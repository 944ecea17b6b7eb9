import { checkRepo, gitProtocols } from './repo';

describe('checkRepo', () => {
  it.each([
    ['https://github.com/org/repo.git', 'https'],
    ['ssh://git@host.example/org/repo.git', 'ssh'],
    ['git@github.com:org/repo.git', 'ssh'],
    ['git://host.example/repo.git', 'git'],
  ])('accepts %s as %s', (repo, kind) => {
    expect(checkRepo(repo, false)).toEqual({ ok: true, kind });
  });

  it.each([
    ['ext::sh -c touch% /tmp/pwned', /ext::/],
    ['EXT::sh -c id', /ext::/],
    ['fd::3', /remote-helper/],
    ['--upload-pack=touch /tmp/pwned', /starts with '-'/],
    ['-u', /starts with '-'/],
    ['http://host.example/repo.git', /plain http/],
    ['ftp://host.example/repo.git', /not allowed/],
    ['https://host/repo\n--x', /control/],
    ['', /empty/],
  ])('refuses %j', (repo, reason) => {
    const check = checkRepo(repo, true);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.reason).toMatch(reason);
  });

  it('takes local paths and file:// only with --allow-local-repos', () => {
    for (const repo of ['/srv/git/repo', './repo', 'file:///srv/git/repo', 'repo']) {
      expect(checkRepo(repo, false)).toMatchObject({ ok: false, reason: expect.stringMatching(/--allow-local-repos/) });
      expect(checkRepo(repo, true)).toEqual({ ok: true, kind: 'local' });
    }
  });

  it('lets git itself use file only when local repos are allowed', () => {
    expect(gitProtocols(false)).toBe('https:ssh:git');
    expect(gitProtocols(true)).toBe('https:ssh:git:file');
  });
});
