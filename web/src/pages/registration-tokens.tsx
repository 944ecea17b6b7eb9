import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText, type CreatedRegistrationToken, type RegistrationTokenSummary } from '../api';
import { Confirm, DateTime, RevokeCell, ShownOnce, StatusCell } from '../components/admin';
import { commaList, inDays, tokenStatus } from '../forms';
import { ErrorBox, Loading, Time } from '../components/ui';
import { useLive } from '../live';
import { navigate, useLocation } from '../router';
import { Pager } from '../components/pager';

const PAGE = 50;

/** `/registration-tokens` (admin): tokens runners register with (list, create: shown once, revoke). */
export function RegistrationTokensPage(): JSX.Element {
  const { query } = useLocation();
  const cursor = query.get('cursor') ?? '';
  const live = useLive(() => api.registrationTokens({ cursor, limit: PAGE }), [cursor], () => false);
  const [name, setName] = useState('');
  const [labels, setLabels] = useState('');
  const [namespaces, setNamespaces] = useState('');
  const [days, setDays] = useState('');
  const [maxUses, setMaxUses] = useState('');
  const [created, setCreated] = useState<CreatedRegistrationToken | null>(null);
  const [revoking, setRevoking] = useState<RegistrationTokenSummary | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const create = async (event: Event): Promise<void> => {
    event.preventDefault();
    setError(null);
    setNotice(null);
    setBusy(true);
    try {
      const l = commaList(labels);
      const ns = commaList(namespaces);
      const t = await api.createRegistrationToken({
        name: name.trim(),
        ...(l.length && { labels: l }),
        ...(ns.length && { namespaces: ns }),
        ...(days.trim() && { expires_at: inDays(Number(days)) }),
        ...(maxUses.trim() && { max_uses: Number(maxUses) }),
      });
      setCreated(t);
      setName('');
      setLabels('');
      setNamespaces('');
      setDays('');
      setMaxUses('');
      live.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (t: RegistrationTokenSummary): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await api.revokeRegistrationToken(t.id);
      setNotice(`Revoked registration token ${t.name}.`);
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
      <h1>Registration tokens</h1>
      <p class="muted">
        Runners register with one (<code>pulse-runner register --registration-token pulse_reg_…</code>) and get its labels; with namespaces, they take
        runs of those namespaces only. Runners already registered keep working after a revocation.
      </p>
      {created && <ShownOnce label={`New registration token ${created.name}`} value={created.token} onDone={() => setCreated(null)} />}
      {revoking && (
        <Confirm label="Confirm revocation" yes="Yes, revoke" busy={busy} onYes={() => void revoke(revoking)} onNo={() => setRevoking(null)}>
          Revoke <strong>{revoking.name}</strong>? Registering with it is refused from now on (401). This cannot be undone.
        </Confirm>
      )}
      <ErrorBox error={error ?? live.error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {!live.data ? (
        live.loading && <Loading what="registration tokens" />
      ) : live.data.items.length === 0 ? (
        <p class="muted">No registration token yet: create one below (RUNNER_REGISTRATION_TOKEN works too).</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Labels</th>
              <th>Namespaces</th>
              <th>Uses</th>
              <th>Expires</th>
              <th>Created</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {live.data.items.map((t) => {
              const status = t.max_uses !== null && t.uses >= t.max_uses && !t.revoked_at ? 'used up' : tokenStatus(t);
              return (
                <tr key={t.id} data-token={t.id}>
                  <td>{t.name}</td>
                  <td>{t.labels.join(', ') || <span class="muted">—</span>}</td>
                  <td>{t.namespaces ? t.namespaces.join(', ') : <span class="muted">all</span>}</td>
                  <td>
                    {t.uses}
                    {t.max_uses !== null ? ` of ${t.max_uses}` : ''}
                  </td>
                  <td>
                    <DateTime at={t.expires_at} none="never" />
                  </td>
                  <td>
                    <Time at={t.created_at} />
                  </td>
                  <StatusCell status={status} revokedAt={t.revoked_at} />
                  <RevokeCell show={!t.revoked_at} busy={busy} name={t.name} onRevoke={() => setRevoking(t)} />
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <Pager
        atStart={!cursor}
        next={live.data?.next_cursor}
        onFirst={() => navigate('/registration-tokens')}
        onNext={(next) => navigate(`/registration-tokens?cursor=${encodeURIComponent(next)}`)}
      />
      <h2>Create a registration token</h2>
      <form class="stack" onSubmit={(e) => void create(e)}>
        <label>
          Name
          <input value={name} onInput={(e) => setName(e.currentTarget.value)} required maxLength={200} placeholder="team-a build hosts" />
        </label>
        <div class="row">
          <label>
            Labels (comma separated)
            <input value={labels} onInput={(e) => setLabels(e.currentTarget.value)} placeholder="linux, team-a" />
          </label>
          <label>
            Namespaces (comma separated; empty: every namespace)
            <input value={namespaces} onInput={(e) => setNamespaces(e.currentTarget.value)} placeholder="team-a" />
          </label>
        </div>
        <div class="row">
          <label>
            Expires in (days; empty: never)
            <input type="number" min={1} step={1} value={days} onInput={(e) => setDays(e.currentTarget.value)} placeholder="never" />
          </label>
          <label>
            Max uses (empty: unlimited)
            <input type="number" min={1} step={1} value={maxUses} onInput={(e) => setMaxUses(e.currentTarget.value)} placeholder="unlimited" />
          </label>
        </div>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Create registration token
          </button>
        </div>
      </form>
    </section>
  );
}
