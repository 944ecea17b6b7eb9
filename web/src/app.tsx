import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, errorText } from './api';
import { onAuthChange, signOut, token } from './auth';
import { ErrorBox, Link, Loading } from './components/ui';
import { feed } from './feed';
import { useFeedStatus } from './live';
import { BatchPage } from './pages/batch';
import { AuditPage } from './pages/audit';
import { BatchesPage } from './pages/batches';
import { InstancePage } from './pages/instance';
import { InstancesPage } from './pages/instances';
import { NamespacePage } from './pages/namespace';
import { NamespacesPage } from './pages/namespaces';
import { NewInstancePage } from './pages/new-instance';
import { NewRunPage } from './pages/new-run';
import { NotFoundPage } from './pages/not-found';
import { OverviewPage } from './pages/overview';
import { RegistrationTokensPage } from './pages/registration-tokens';
import { RunPage } from './pages/run';
import { RunnerPage } from './pages/runner';
import { RunnersPage } from './pages/runners';
import { RunsPage } from './pages/runs';
import { SignInPage } from './pages/sign-in';
import { TokensPage } from './pages/tokens';
import { WorkloadsPage } from './pages/workloads';
import { match, useLocation } from './router';
import { allows, BOOTSTRAP, SessionContext, widest, type Scope, type Session } from './session';

/** The navigation; a link whose page needs a scope the token lacks is not shown. */
const NAV: ReadonlyArray<readonly [string, string, Scope]> = [
  ['/', 'Overview', 'read'],
  ['/runs', 'Runs', 'read'],
  ['/batches', 'Batches', 'read'],
  ['/runners', 'Runners', 'read'],
  ['/namespaces', 'Namespaces', 'read'],
  ['/instances', 'Instances', 'read'],
  ['/workloads', 'Workloads', 'read'],
  ['/tokens', 'Tokens', 'admin'],
  ['/registration-tokens', 'Registration tokens', 'admin'],
  ['/audit', 'Audit', 'admin'],
];

/** A page the token may not use: said in words (the API would answer 403 anyway). */
function Needs({ scope, what }: { scope: Scope; what: string }): JSX.Element {
  return (
    <section>
      <h1>{what}</h1>
      <p class="notice">
        This page needs a token with the <strong>{scope}</strong> scope. Sign in with such a token to use it.
      </p>
    </section>
  );
}

function route(path: string, can: (scope: Scope) => boolean): JSX.Element {
  if (path === '/' || path === '') return <OverviewPage />;
  if (match('/runs', path)) return <RunsPage />;
  if (match('/runs/new', path)) return can('write') ? <NewRunPage /> : <Needs scope="write" what="New run" />;
  let p = match('/runs/:id', path);
  if (p) return <RunPage key={p.id} id={p.id} />;
  if (match('/batches', path)) return <BatchesPage />;
  p = match('/batches/:id', path);
  if (p) return <BatchPage key={p.id} id={p.id} />;
  if (match('/runners', path)) return <RunnersPage />;
  p = match('/runners/:id', path);
  if (p) return <RunnerPage key={p.id} id={p.id} />;
  if (match('/instances', path)) return <InstancesPage />;
  if (match('/instances/new', path)) return can('write') ? <NewInstancePage /> : <Needs scope="write" what="New instance" />;
  p = match('/instances/:id', path);
  if (p) return <InstancePage key={p.id} id={p.id} />;
  if (match('/workloads', path)) return <WorkloadsPage />;
  if (match('/namespaces', path)) return <NamespacesPage />;
  p = match('/namespaces/:name', path);
  if (p) return <NamespacePage key={p.name} name={p.name} tab="repositories" />;
  p = match('/namespaces/:name/secrets', path);
  if (p) return <NamespacePage key={p.name} name={p.name} tab="secrets" />;
  if (match('/tokens', path)) return can('admin') ? <TokensPage /> : <Needs scope="admin" what="API tokens" />;
  if (match('/registration-tokens', path)) return can('admin') ? <RegistrationTokensPage /> : <Needs scope="admin" what="Registration tokens" />;
  if (match('/audit', path)) return can('admin') ? <AuditPage /> : <Needs scope="admin" what="Audit log" />;
  return <NotFoundPage />;
}

const STATUS_WORDS: Record<string, string> = {
  idle: 'Offline',
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  paused: 'Paused',
  unavailable: 'Polling',
};

function LiveIndicator(): JSX.Element {
  const status = useFeedStatus();
  return (
    <span class={`live live-${status}`} role="status" aria-live="polite" title="Live updates from the event feed">
      <span class="dot" aria-hidden="true" />
      {STATUS_WORDS[status] ?? status}
    </span>
  );
}

function current(path: string, href: string): boolean {
  return href === '/' ? path === '/' : path === href || path.startsWith(href + '/');
}

/** Who is signed in: the token's name (or "Admin token") and its widest scope. */
function WhoAmI({ session }: { session: Session }): JSX.Element {
  const scope = widest(session.scopes);
  const name = session.type === 'bootstrap' ? 'Admin token' : (session.name ?? 'API token');
  const where = session.namespaces ? ` · ${session.namespaces.join(', ')}` : '';
  return (
    <span class="who" data-scope={scope} title={`Signed in with ${name}: scope ${scope}${session.namespaces ? `, namespaces ${session.namespaces.join(', ')}` : ''}`}>
      {name} · {scope}
      {where}
    </span>
  );
}

export function App(): JSX.Element {
  const [signedIn, setSignedIn] = useState(() => token() !== null);
  const [session, setSession] = useState<Session | null>(null);
  const [sessionError, setSessionError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const loc = useLocation();
  useEffect(
    () =>
      onAuthChange(() => {
        const now = token() !== null;
        if (!now) feed.reset();
        setSession(null);
        setSignedIn(now);
      }),
    [],
  );
  // What this token may do, read once per sign-in (a reload reads it again).
  useEffect(() => {
    if (!signedIn) return undefined;
    let alive = true;
    setSessionError(null);
    api.whoami().then(
      (who) => alive && setSession(who),
      (err) => {
        if (!alive) return;
        if (err instanceof ApiError && err.status === 404) setSession(BOOTSTRAP); // no /api/whoami: ADMIN_TOKEN only
        else setSessionError(errorText(err));
      },
    );
    return () => {
      alive = false;
    };
  }, [signedIn, attempt]);
  // One feed connection for the whole tab while signed in; pages share it.
  useEffect(() => (signedIn ? feed.subscribe(() => undefined) : undefined), [signedIn]);

  if (!signedIn) return <SignInPage />;
  if (!session) {
    return (
      <main>
        <ErrorBox error={sessionError} />
        {sessionError ? (
          <div class="actions">
            <button type="button" onClick={() => setAttempt((n) => n + 1)}>
              Try again
            </button>
            <button type="button" onClick={() => signOut()}>
              Sign out
            </button>
          </div>
        ) : (
          <Loading what="your token's scopes" />
        )}
      </main>
    );
  }
  const can = (scope: Scope): boolean => allows(session.scopes, scope);
  return (
    <SessionContext.Provider value={session}>
      <div class="layout">
        <header class="top">
          <Link href="/" class="brand" aria-label="Pulse home">
            Pulse
          </Link>
          <nav aria-label="Main">
            {NAV.filter(([, , scope]) => can(scope)).map(([href, label]) => (
              <Link key={href} href={href} aria-current={current(loc.path, href) ? 'page' : undefined}>
                {label}
              </Link>
            ))}
          </nav>
          {can('write') && (
            <Link href="/runs/new" class="button primary">
              New run
            </Link>
          )}
          <LiveIndicator />
          <WhoAmI session={session} />
          <button type="button" class="link" onClick={() => signOut()}>
            Sign out
          </button>
        </header>
        <main>{route(loc.path, can)}</main>
      </div>
    </SessionContext.Provider>
  );
}
