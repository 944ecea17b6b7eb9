/**
 * Which repository strings the runner is willing to hand to `git clone`.
 *
 * The repo comes from whoever submitted the run, so it is untrusted input to git:
 * - anything starting with `-` would be read as an option (`--upload-pack=…` runs a command);
 *   we also pass it after `--`, but refuse it outright so the log says why;
 * - `ext::` (and any `<helper>::` remote-helper syntax) runs arbitrary commands;
 * - local paths and `file://` read the runner host's disk: only with `--allow-local-repos`;
 * - plain `http://` is refused: a CI checkout should not travel unauthenticated in clear text.
 * GIT_ALLOW_PROTOCOL (see gitProtocols) enforces the same list inside git itself, redirects and
 * submodules included.
 */

export type RepoKind = 'https' | 'ssh' | 'git' | 'local';
export type RepoCheck = { ok: true; kind: RepoKind } | { ok: false; reason: string };

export function checkRepo(repo: string, allowLocal: boolean): RepoCheck {
  if (repo.trim() === '') return { ok: false, reason: 'the repository is empty' };
  if ([...repo].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return { ok: false, reason: 'the repository contains control characters' };
  if (repo.startsWith('-')) return { ok: false, reason: "it starts with '-' and would be read as a git option" };

  const helper = /^([A-Za-z][A-Za-z0-9+.-]*)::/.exec(repo);
  if (helper) {
    return helper[1].toLowerCase() === 'ext'
      ? { ok: false, reason: 'the ext:: transport runs arbitrary commands' }
      : { ok: false, reason: `the ${helper[1]}:: remote-helper syntax is not allowed` };
  }

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(repo);
  if (scheme) {
    switch (scheme[1].toLowerCase()) {
      case 'https':
        return { ok: true, kind: 'https' };
      case 'ssh':
      case 'git+ssh':
      case 'ssh+git':
        return { ok: true, kind: 'ssh' };
      case 'git':
        return { ok: true, kind: 'git' };
      case 'file':
        return allowLocal ? { ok: true, kind: 'local' } : localRefused();
      case 'http':
        return { ok: false, reason: 'plain http:// is not allowed; use https://' };
      default:
        return { ok: false, reason: `the ${scheme[1]}:// scheme is not allowed (https, ssh or git only)` };
    }
  }

  // scp-like "user@host:path": git reads it so when a colon comes before any slash.
  if (/^[^/]*:/.test(repo)) return { ok: true, kind: 'ssh' };

  return allowLocal ? { ok: true, kind: 'local' } : localRefused();
}

function localRefused(): RepoCheck {
  return { ok: false, reason: 'local paths and file:// need the runner to be started with --allow-local-repos' };
}

/** The GIT_ALLOW_PROTOCOL value: the transports git may use at all. */
export function gitProtocols(allowLocal: boolean): string {
  return allowLocal ? 'https:ssh:git:file' : 'https:ssh:git';
}
