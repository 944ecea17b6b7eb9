import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, errorText, type NamespaceResponse, type SecretResponse, type SubmitRunsRequest } from '../api';
import { ErrorBox, Link } from '../components/ui';
import { navigate } from '../router';

/** `KEY=value` lines → an env object; a bad line is reported by its number. */
export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq).trim();
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) throw new Error(`Environment line ${i + 1}: write NAME=value (NAME: letters, digits, _)`);
    env[key] = raw.slice(raw.indexOf('=') + 1);
  });
  return env;
}

/**
 * `/runs/new`: namespace, script, optional repos, env, secrets, image, labels, priority, timeout →
 * the new batch's page.
 */
export function NewRunPage(): JSX.Element {
  const [namespaces, setNamespaces] = useState<NamespaceResponse[] | null>(null);
  const [namespace, setNamespace] = useState('');
  const [script, setScript] = useState('echo "hello from $(hostname)"\n');
  const [repos, setRepos] = useState<string[]>([]);
  const [env, setEnv] = useState('');
  const [image, setImage] = useState('');
  const [secrets, setSecrets] = useState<SecretResponse[] | null>(null);
  const [chosen, setChosen] = useState<string[]>([]);
  const [labels, setLabels] = useState('');
  const [priority, setPriority] = useState('');
  const [timeout, setTimeoutValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.namespaces().then(
      (list) => {
        setNamespaces(list);
        if (list.length) setNamespace((n) => n || list[0].namespace_name);
      },
      (err) => setError(errorText(err)),
    );
  }, []);
  // The namespace's secrets (names only), to tick; none listed when the orchestrator has no secrets.
  useEffect(() => {
    setSecrets(null);
    setChosen([]);
    if (!namespace) return undefined;
    let alive = true;
    api.secrets(namespace).then(
      (list) => alive && setSecrets(list),
      () => alive && setSecrets([]),
    );
    return () => {
      alive = false;
    };
  }, [namespace]);
  const selected = namespaces?.find((n) => n.namespace_name === namespace);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setError(null);
    let body: SubmitRunsRequest;
    try {
      body = { namespace, script };
      if (repos.length) body.repos = repos;
      const e = parseEnv(env);
      if (Object.keys(e).length) body.env = e;
      if (chosen.length) body.secrets = chosen;
      if (image.trim()) body.image = image.trim();
      const l = labels
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);
      if (l.length) body.labels = l;
      if (priority.trim()) body.priority = Number(priority);
      if (timeout.trim()) body.timeout = Number(timeout);
    } catch (err) {
      setError(errorText(err));
      return;
    }
    setBusy(true);
    try {
      const res = await api.submit(body);
      navigate(`/batches/${res.batch_id}`);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>New run</h1>
      {namespaces && namespaces.length === 0 && (
        <p class="notice">
          There is no namespace yet. <Link href="/namespaces">Create one</Link> with the repositories to run on.
        </p>
      )}
      <form class="stack" onSubmit={(e) => void submit(e)}>
        <label>
          Namespace
          <select value={namespace} onChange={(e) => {
            setNamespace(e.currentTarget.value);
            setRepos([]);
          }} required>
            {namespaces?.map((n) => (
              <option key={n.namespace_name} value={n.namespace_name}>
                {n.namespace_name}
              </option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>Repositories (none ticked: every repository of the namespace)</legend>
          {selected?.repositories.length ? (
            selected.repositories.map((r) => (
              <label key={r} class="check">
                <input
                  type="checkbox"
                  checked={repos.includes(r)}
                  onChange={(e) => setRepos((now) => (e.currentTarget.checked ? [...now, r] : now.filter((x) => x !== r)))}
                />
                <span class="mono">{r}</span>
              </label>
            ))
          ) : (
            <p class="muted small">This namespace has no repositories.</p>
          )}
        </fieldset>
        <label>
          Script
          <textarea class="mono" rows={8} value={script} onInput={(e) => setScript(e.currentTarget.value)} required spellcheck={false} />
        </label>
        <label>
          Environment (NAME=value, one per line)
          <textarea class="mono" rows={3} value={env} onInput={(e) => setEnv(e.currentTarget.value)} spellcheck={false} />
        </label>
        {secrets && secrets.length > 0 && (
          <fieldset>
            <legend>Secrets (in the environment, masked in the log)</legend>
            {secrets.map((x) => (
              <label key={x.name} class="check">
                <input
                  type="checkbox"
                  checked={chosen.includes(x.name)}
                  onChange={(e) => {
                    const on = e.currentTarget.checked;
                    setChosen((now) => (on ? [...now, x.name] : now.filter((n) => n !== x.name)));
                  }}
                />
                <span class="mono">{x.name}</span>
              </label>
            ))}
          </fieldset>
        )}
        <label>
          Image (optional: run in a container of this image)
          <input class="mono" value={image} onInput={(e) => setImage(e.currentTarget.value)} placeholder="debian:12" spellcheck={false} />
        </label>
        <div class="row">
          <label>
            Labels (comma separated)
            <input value={labels} onInput={(e) => setLabels(e.currentTarget.value)} placeholder="linux, docker" />
          </label>
          <label>
            Priority
            <input type="number" step={1} value={priority} onInput={(e) => setPriority(e.currentTarget.value)} placeholder="0" />
          </label>
          <label>
            Timeout (seconds)
            <input type="number" min={1} step={1} value={timeout} onInput={(e) => setTimeoutValue(e.currentTarget.value)} placeholder="default" />
          </label>
        </div>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || !namespace}>
            Submit
          </button>
        </div>
        <ErrorBox error={error} />
      </form>
    </section>
  );
}
