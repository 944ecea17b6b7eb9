import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { onAuthChange, signOut, token } from './auth';
import { Link } from './components/ui';
import { feed } from './feed';
import { useFeedStatus } from './live';
import { BatchPage } from './pages/batch';
import { BatchesPage } from './pages/batches';
import { NamespacesPage } from './pages/namespaces';
import { NewRunPage } from './pages/new-run';
import { NotFoundPage } from './pages/not-found';
import { OverviewPage } from './pages/overview';
import { RunPage } from './pages/run';
import { RunnerPage } from './pages/runner';
import { RunnersPage } from './pages/runners';
import { RunsPage } from './pages/runs';
import { SignInPage } from './pages/sign-in';
import { match, useLocation } from './router';

const NAV = [
  ['/', 'Overview'],
  ['/runs', 'Runs'],
  ['/batches', 'Batches'],
  ['/runners', 'Runners'],
  ['/namespaces', 'Namespaces'],
] as const;

function route(path: string): JSX.Element {
  if (path === '/' || path === '') return <OverviewPage />;
  if (match('/runs', path)) return <RunsPage />;
  if (match('/runs/new', path)) return <NewRunPage />;
  let p = match('/runs/:id', path);
  if (p) return <RunPage key={p.id} id={p.id} />;
  if (match('/batches', path)) return <BatchesPage />;
  p = match('/batches/:id', path);
  if (p) return <BatchPage key={p.id} id={p.id} />;
  if (match('/runners', path)) return <RunnersPage />;
  p = match('/runners/:id', path);
  if (p) return <RunnerPage key={p.id} id={p.id} />;
  if (match('/namespaces', path)) return <NamespacesPage />;
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

export function App(): JSX.Element {
  const [signedIn, setSignedIn] = useState(() => token() !== null);
  const loc = useLocation();
  useEffect(
    () =>
      onAuthChange(() => {
        const now = token() !== null;
        if (!now) feed.reset();
        setSignedIn(now);
      }),
    [],
  );
  // One feed connection for the whole tab while signed in; pages share it.
  useEffect(() => (signedIn ? feed.subscribe(() => undefined) : undefined), [signedIn]);

  if (!signedIn) return <SignInPage />;
  return (
    <div class="layout">
      <header class="top">
        <Link href="/" class="brand" aria-label="Pulse home">
          Pulse
        </Link>
        <nav aria-label="Main">
          {NAV.map(([href, label]) => (
            <Link key={href} href={href} aria-current={current(loc.path, href) ? 'page' : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <Link href="/runs/new" class="button primary">
          New run
        </Link>
        <LiveIndicator />
        <button type="button" class="link" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main>{route(loc.path)}</main>
    </div>
  );
}
