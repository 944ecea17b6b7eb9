import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { signIn, signOutNotice } from '../auth';

/**
 * Sign-in with ADMIN_TOKEN or any API token (`pulse_pat_…`): it goes to this tab's sessionStorage,
 * never into a URL. GET /api/whoami checks it (every scope includes read).
 */
export function SignInPage(): JSX.Element {
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(signOutNotice());
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const t = value.trim();
    if (!t) {
      setError('Enter the admin token (printed by the orchestrator on its first start) or an API token (pulse_pat_…).');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      let res = await fetch('/api/whoami', { headers: { Authorization: `Bearer ${t}` }, cache: 'no-store' });
      // An orchestrator older than API tokens has no /api/whoami: any admin route checks the token.
      if (res.status === 404) res = await fetch('/api/runners?limit=1', { headers: { Authorization: `Bearer ${t}` }, cache: 'no-store' });
      if (res.status === 401) setError('That token was refused by the orchestrator (unknown, expired or revoked).');
      else if (res.status === 403) setError('That token was refused by the orchestrator: it lacks the read scope.');
      else if (!res.ok) setError(`The orchestrator answered ${res.status}. Try again.`);
      else signIn(t);
    } catch {
      setError('Cannot reach the orchestrator. Is it running?');
    } finally {
      setBusy(false);
    }
  };

  return (
    <main class="sign-in">
      <h1>Pulse</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">Admin token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
          autoFocus
        />
        <button type="submit" class="primary" disabled={busy}>
          Sign in
        </button>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <p class="muted small">
          The admin token was printed by <code>npm start</code> on the first start (ADMIN_TOKEN); an API token (
          <code>pulse_pat_…</code>) works too, and the dashboard shows what its scopes allow. It is kept in this tab only.
        </p>
      </form>
    </main>
  );
}
