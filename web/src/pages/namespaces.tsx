import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText, type NamespaceResponse } from '../api';
import { ErrorBox, Link, Loading } from '../components/ui';
import { useLive } from '../live';
import { useCan } from '../session';

function repoLines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** `/namespaces`: list, create, edit (replace the repositories), delete (those three need write). */
export function NamespacesPage(): JSX.Element {
  const can = useCan();
  const live = useLive(() => api.namespaces(), [], (e) => e.kind === 'namespace');
  const [name, setName] = useState('');
  const [repos, setRepos] = useState('');
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const edit = (ns: NamespaceResponse): void => {
    setEditing(ns.namespace_name);
    setName(ns.namespace_name);
    setRepos(ns.repositories.join('\n'));
    setError(null);
    setNotice(null);
  };
  const clear = (): void => {
    setEditing(null);
    setName('');
    setRepos('');
  };

  const save = async (event: Event): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const saved = await api.putNamespace({ namespace_name: name.trim(), repositories: repoLines(repos) });
      setNotice(`Saved namespace ${saved.namespace_name}.`);
      clear();
      live.reload();
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (ns: string): Promise<void> => {
    if (!confirm(`Delete namespace ${ns}?`)) return;
    setError(null);
    setNotice(null);
    try {
      await api.deleteNamespace(ns);
      setNotice(`Deleted namespace ${ns}.`);
      if (editing === ns) clear();
      live.reload();
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <section>
      <h1>Namespaces</h1>
      <ErrorBox error={live.error} />
      {!live.data ? (
        live.loading && <Loading what="namespaces" />
      ) : live.data.length === 0 ? (
        <p class="muted">No namespace yet{can('write') ? ': create one below' : ''}.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Namespace</th>
              <th>Repositories</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {live.data.map((ns) => (
              <tr key={ns.namespace_name}>
                <td>
                  <Link href={`/namespaces/${encodeURIComponent(ns.namespace_name)}`}>{ns.namespace_name}</Link>
                </td>
                <td class="mono">
                  {ns.repositories.map((r) => (
                    <div key={r}>{r}</div>
                  ))}
                </td>
                <td class="actions">
                  <Link href={`/runs?namespace=${encodeURIComponent(ns.namespace_name)}`} aria-label={`Runs of ${ns.namespace_name}`}>
                    Runs
                  </Link>
                  <Link href={`/namespaces/${encodeURIComponent(ns.namespace_name)}/secrets`} aria-label={`Secrets of ${ns.namespace_name}`}>
                    Secrets
                  </Link>
                  {can('write') && (
                    <>
                      <button type="button" onClick={() => edit(ns)} aria-label={`Edit ${ns.namespace_name}`}>
                        Edit
                      </button>
                      <button type="button" class="danger" onClick={() => void remove(ns.namespace_name)} aria-label={`Delete ${ns.namespace_name}`}>
                        Delete
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {can('write') && (
        <>
          <h2>{editing ? `Edit ${editing}` : 'Create a namespace'}</h2>
          <form class="stack" onSubmit={(e) => void save(e)}>
            <label>
              Name
              <input value={name} onInput={(e) => setName(e.currentTarget.value)} readOnly={editing !== null} required pattern="[A-Za-z0-9._\-]{1,63}" />
            </label>
            <label>
              Repositories (one per line)
              <textarea rows={4} value={repos} onInput={(e) => setRepos(e.currentTarget.value)} placeholder="https://github.com/acme/app.git" />
            </label>
            <div class="actions">
              <button type="submit" class="primary" disabled={busy}>
                {editing ? 'Save' : 'Create'}
              </button>
              {editing && (
                <button type="button" onClick={clear}>
                  Cancel edit
                </button>
              )}
            </div>
            <ErrorBox error={error} />
            {notice && (
              <p class="notice" role="status">
                {notice}
              </p>
            )}
          </form>
        </>
      )}
    </section>
  );
}
