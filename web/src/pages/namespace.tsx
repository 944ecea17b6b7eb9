import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText, type SecretResponse } from '../api';
import { Confirm } from '../components/admin';
import { ErrorBox, Link, Loading, Time } from '../components/ui';
import { useLive } from '../live';
import { useCan } from '../session';

const ENV_NAME = '[A-Za-z_][A-Za-z0-9_]*';

/** `/namespaces/{name}/secrets`: names and dates (never a value), set (write-only), delete. */
function Secrets({ namespace }: { namespace: string }): JSX.Element {
  const can = useCan();
  const live = useLive(() => api.secrets(namespace), [namespace], () => false);
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const [deleting, setDeleting] = useState<SecretResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const save = async (event: Event): Promise<void> => {
    event.preventDefault();
    setError(null);
    setNotice(null);
    setBusy(true);
    try {
      const saved = await api.putSecret(namespace, name.trim(), value);
      // The value leaves the page's state (and so the input) the moment it is stored.
      setValue('');
      setName('');
      setNotice(`Saved secret ${saved.name}.`);
      live.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (s: SecretResponse): Promise<void> => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      await api.deleteSecret(namespace, s.name);
      setNotice(`Deleted secret ${s.name}.`);
      setDeleting(null);
      live.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <p class="muted">
        A run receives the secrets its submission names, in its environment, and its log shows <code>[MASKED]</code> where a value was
        printed. Values are stored encrypted and never shown again, here or anywhere.
      </p>
      {deleting && (
        <Confirm label="Confirm deletion" yes="Yes, delete" busy={busy} onYes={() => void remove(deleting)} onNo={() => setDeleting(null)}>
          Delete secret <strong>{deleting.name}</strong> of {namespace}? A waiting run that names it fails when it is dispatched.
        </Confirm>
      )}
      <ErrorBox error={error ?? live.error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {!live.data ? (
        live.loading && <Loading what="secrets" />
      ) : live.data.length === 0 ? (
        <p class="muted">This namespace has no secret yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Created</th>
              <th>Updated</th>
              {can('write') && <th />}
            </tr>
          </thead>
          <tbody>
            {live.data.map((s) => (
              <tr key={s.name}>
                <td class="mono">{s.name}</td>
                <td>
                  <Time at={s.created_at} />
                </td>
                <td>
                  <Time at={s.updated_at} />
                </td>
                {can('write') && (
                  <td class="actions">
                    <button type="button" onClick={() => setName(s.name)} aria-label={`Replace ${s.name}`}>
                      Replace
                    </button>
                    <button type="button" class="danger" disabled={busy} onClick={() => setDeleting(s)} aria-label={`Delete ${s.name}`}>
                      Delete
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {can('write') && (
        <>
          <h2>Set a secret</h2>
          <form class="stack" onSubmit={(e) => void save(e)} autocomplete="off">
            <div class="row">
              <label>
                Secret name
                <input
                  class="mono"
                  value={name}
                  onInput={(e) => setName(e.currentTarget.value)}
                  required
                  maxLength={255}
                  pattern={ENV_NAME}
                  title="An environment variable name: letters, digits and _, not starting with a digit"
                  placeholder="DEPLOY_TOKEN"
                  spellcheck={false}
                />
              </label>
              <label class="grow">
                Value
                <input
                  type="password"
                  autocomplete="new-password"
                  value={value}
                  onInput={(e) => setValue(e.currentTarget.value)}
                  required
                  minLength={8}
                  spellcheck={false}
                />
              </label>
            </div>
            <p class="muted small">8 to 65,536 bytes. Setting a name that exists replaces its value.</p>
            <div class="actions">
              <button type="submit" class="primary" disabled={busy}>
                Save secret
              </button>
            </div>
          </form>
        </>
      )}
    </>
  );
}

/** `/namespaces/{name}` (its repositories) and `/namespaces/{name}/secrets` (its secrets), as tabs. */
export function NamespacePage({ name, tab }: { name: string; tab: 'repositories' | 'secrets' }): JSX.Element {
  const can = useCan();
  const live = useLive(() => api.namespace(name), [name], (e) => e.kind === 'namespace');
  const base = `/namespaces/${encodeURIComponent(name)}`;
  return (
    <section>
      <h1>
        Namespace <span class="mono">{name}</span>
      </h1>
      <nav class="tabs" aria-label="Namespace">
        <Link href={base} aria-current={tab === 'repositories' ? 'page' : undefined}>
          Repositories
        </Link>
        <Link href={`${base}/secrets`} aria-current={tab === 'secrets' ? 'page' : undefined}>
          Secrets
        </Link>
        <Link href={`/runs?namespace=${encodeURIComponent(name)}`}>Runs</Link>
      </nav>
      {tab === 'secrets' ? (
        <Secrets namespace={name} />
      ) : (
        <>
          <ErrorBox error={live.error} />
          {!live.data ? (
            live.loading && <Loading what="the namespace" />
          ) : live.data.repositories.length === 0 ? (
            <p class="muted">No repository.</p>
          ) : (
            <ul class="plain mono">
              {live.data.repositories.map((r) => (
                <li key={r}>{r}</li>
              ))}
            </ul>
          )}
          {can('write') && (
            <p>
              <Link href="/namespaces">Edit on the namespaces page</Link>
            </p>
          )}
        </>
      )}
    </section>
  );
}
