import type { ComponentChildren, JSX } from 'preact';
import { useRef, useState } from 'preact/hooks';

/**
 * A token's value, right after it was created: shown this once (the orchestrator keeps only its
 * hash), with a Copy button. It lives in the page's state only: leaving or reloading loses it.
 */
export function ShownOnce({ label, value, onDone }: { label: string; value: string; onDone: () => void }): JSX.Element {
  const [copied, setCopied] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('Copied to the clipboard.');
    } catch {
      // No clipboard API (plain http on another host): select it and let the browser copy it.
      input.current?.select();
      setCopied(document.execCommand('copy') ? 'Copied to the clipboard.' : 'Select the value and copy it by hand.');
    }
  };
  return (
    <div class="once" role="region" aria-label={label}>
      <p>
        <strong>Copy it now: it is shown only once.</strong> The orchestrator keeps only its hash; when you leave or reload this page
        it is gone, and a lost token can only be revoked and replaced.
      </p>
      <div class="actions">
        <input ref={input} class="mono grow" readOnly value={value} aria-label={label} onFocus={(e) => e.currentTarget.select()} />
        <button type="button" class="primary" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
      {copied && (
        <p class="small" role="status">
          {copied}
        </p>
      )}
    </div>
  );
}

/** An inline confirmation (role alertdialog) before something that cannot be undone. */
export function Confirm(props: {
  label: string;
  yes: string;
  no?: string;
  busy?: boolean;
  onYes: () => void;
  onNo: () => void;
  children: ComponentChildren;
}): JSX.Element {
  return (
    <div class="confirm" role="alertdialog" aria-label={props.label}>
      <p>{props.children}</p>
      <button type="button" class="danger" disabled={props.busy} onClick={props.onYes}>
        {props.yes}
      </button>
      <button type="button" onClick={props.onNo}>
        {props.no ?? 'Keep it'}
      </button>
    </div>
  );
}

/** An absolute time (an expiry is in the future, where "… ago" means nothing). */
export function DateTime({ at, none = '—' }: { at: string | null | undefined; none?: string }): JSX.Element {
  if (!at) return <span class="muted">{none}</span>;
  const d = new Date(at);
  return (
    <time dateTime={at} title={at}>
      {d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })}
    </time>
  );
}

/** A token's status in a list (`active`, `expired`, `revoked`, `used up`), with when it was revoked. */
export function StatusCell({ status, revokedAt }: { status: string; revokedAt: string | null }): JSX.Element {
  return (
    <td>
      <span class={`state state-${status.replace(' ', '-')}`}>{status}</span>
      {revokedAt && (
        <span class="muted small">
          {' '}
          <DateTime at={revokedAt} />
        </span>
      )}
    </td>
  );
}

/** The Revoke button of a token's row (it asks for confirmation through `onRevoke`); empty once revoked. */
export function RevokeCell({ show, busy, name, onRevoke }: { show: boolean; busy: boolean; name: string; onRevoke: () => void }): JSX.Element {
  return (
    <td class="actions">
      {show && (
        <button type="button" class="danger" disabled={busy} onClick={onRevoke} aria-label={`Revoke ${name}`}>
          Revoke
        </button>
      )}
    </td>
  );
}
