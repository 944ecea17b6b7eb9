import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText, type CreatedToken, type TokenSummary } from '../api';
import { Confirm, DateTime, RevokeCell, ShownOnce, StatusCell } from '../components/admin';
import { commaList, inDays, tokenStatus } from '../forms';
import { ErrorBox, Loading, Time } from '../components/ui';
import { useLive } from '../live';
import { navigate, useLocation } from '../router';
import type { Scope } from '../session';
import { Pager } from '../components/pager';

const PAGE = 50;
const SCOPE_WORDS: ReadonlyArray<readonly [Scope, string]> = [
  ['read', 'read: every list, run and log; no change'],
  ['write', 'write: submit and cancel runs, namespaces, secrets'],
  ['admin', 'admin: everything, runners, tokens and the audit log'],
];

/** `/tokens` (admin): API tokens (list, create: the value shown once, revoke after a confirmation). */
export function TokensPage(): JSX.Element {
  const { query } = useLocation();
  const cursor = query.get('cursor') ?? '';
  const live = useLive(() => api.tokens({ cursor, limit: PAGE }), [cursor], () => false);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['read']);
  const [namespaces, setNamespaces] = useState('');
  const [days, setDays] = useState('');
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [revoking, setRevoking] = useState<TokenSummary | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const create = async (event: Event): Promise<void> => {
    event.preventDefault();
    setError(null);
    setNotice(null);
    if (!scopes.length) {
      setError('Tick at least one scope.');
      return;
    }
    setBusy(true);
    try {
      const ns = commaList(namespaces);
      const t = await api.createToken({
        name: name.trim(),
        scopes,
        ...(ns.length && { namespaces: ns }),
        ...(days.trim() && { expires_at: inDays(Number(days)) }),
      });
      setCreated(t);
      setName('');
      setNamespaces('');
      setDays('');
      setScopes(['read']);
      live.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (t: TokenSummary): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await api.revokeToken(t.id);
      setNotice(`Revoked token ${t.name}.`);
      setRevoking(null);
      live.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>API tokens</h1>
      <p class="muted">
        Tokens for people and scripts (<code>Authorization: Bearer pulse_pat_…</code>). ADMIN_TOKEN is not listed: it is the bootstrap
        admin.
      </p>
      {created && <ShownOnce label={`New token ${created.name}`} value={created.token} onDone={() => setCreated(null)} />}
      {revoking && (
        <Confirm label="Confirm revocation" yes="Yes, revoke" busy={busy} onYes={() => void revoke(revoking)} onNo={() => setRevoking(null)}>
          Revoke <strong>{revoking.name}</strong>? Every request with it is refused at once (401), in every orchestrator process. This
          cannot be undone.
        </Confirm>
      )}
      <ErrorBox error={error ?? live.error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {!live.data ? (
        live.loading && <Loading what="tokens" />
      ) : live.data.items.length === 0 ? (
        <p class="muted">No API token yet: create one below.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Scopes</th>
              <th>Namespaces</th>
              <th>Expires</th>
              <th>Last used</th>
              <th>Created</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {live.data.items.map((t) => {
              const status = tokenStatus(t);
              return (
                <tr key={t.id} data-token={t.id}>
                  <td>{t.name}</td>
                  <td>{t.scopes.join(', ')}</td>
                  <td>{t.namespaces ? t.namespaces.join(', ') : <span class="muted">all</span>}</td>
                  <td>
                    <DateTime at={t.expires_at} />
                  </td>
                  <td>
                    <Time at={t.last_used_at} />
                  </td>
                  <td>
                    <Time at={t.created_at} />
                  </td>
                  <StatusCell status={status} revokedAt={t.revoked_at} />
                  <RevokeCell show={status !== 'revoked'} busy={busy} name={t.name} onRevoke={() => setRevoking(t)} />
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <Pager
        atStart={!cursor}
        next={live.data?.next_cursor}
        onFirst={() => navigate('/tokens')}
        onNext={(next) => navigate(`/tokens?cursor=${encodeURIComponent(next)}`)}
      />
      <h2>Create a token</h2>
      <form class="stack" onSubmit={(e) => void create(e)}>
        <label>
          Name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={200} placeholder="alice (read-only)" />
        </label>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPE_WORDS.map(([scope, words]) => (
            <label key={scope} class="check">
              <input
                type="checkbox"
                name="scope"
                value={scope}
                checked={scopes.includes(scope)}
                onChange={(e) => {
                  const on = e.currentTarget.checked;
                  setScopes((now) => (on ? [...now, scope] : now.filter((s) => s !== scope)));
                }}
              />
              {words}
            </label>
          ))}
        </fieldset>
        <div class="row">
          <label>
            Namespaces (comma separated; empty: every namespace)
            <input value={namespaces} onInput={(e) => setNamespaces(e.currentTarget.value)} placeholder="team-a, team-b" />
          </label>
          <label>
            Expires in (days)
            <input type="number" min={1} max={365} step={1} value={days} onInput={(e) => setDays(e.currentTarget.value)} placeholder="90" />
          </label>
        </div>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Create token
          </button>
        </div>
      </form>
    </section>
  );
}
