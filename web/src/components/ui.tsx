import type { ComponentChildren, JSX } from 'preact';
import { onLinkClick } from '../router';

export function Link(props: JSX.HTMLAttributes<HTMLAnchorElement> & { href: string }): JSX.Element {
  return <a {...props} onClick={onLinkClick} />;
}

export function StateBadge({ state }: { state: string }): JSX.Element {
  return <span class={`state state-${state}`}>{state}</span>;
}

export function ErrorBox({ error }: { error: string | null | undefined }): JSX.Element | null {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : '—';
}

export function Time({ at }: { at: string | null | undefined }): JSX.Element {
  if (!at) return <span class="muted">—</span>;
  const d = new Date(at);
  return (
    <time dateTime={at} title={d.toLocaleString()}>
      {ago(d)}
    </time>
  );
}

export function ago(d: Date, now = Date.now()): string {
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < 5) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return d.toLocaleDateString();
}

export function duration(from: string | null | undefined, to: string | null | undefined, now = Date.now()): string {
  if (!from) return '—';
  const ms = (to ? new Date(to).getTime() : now) - new Date(from).getTime();
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function Field({ label, children }: { label: string; children: ComponentChildren }): JSX.Element {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

export function Loading({ what }: { what: string }): JSX.Element {
  return <p class="muted">Loading {what}…</p>;
}
