import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, type AuditEntry } from '../api';
import { DateTime } from '../components/admin';
import { ErrorBox, Link, Loading, shortId } from '../components/ui';
import { useLive } from '../live';
import { navigate, useLocation } from '../router';
import { Pager } from '../components/pager';

const PAGE = 50;

/** The actions the audit log records (SPEC section 12), for the filter. */
export const AUDIT_ACTIONS = [
  'token.created',
  'token.revoked',
  'registration_token.created',
  'registration_token.revoked',
  'secret.set',
  'secret.deleted',
  'secret.leak_caught',
  'namespace.put',
  'namespace.deleted',
  'run.submitted',
  'run.canceled',
  'batch.canceled',
  'runner.registered',
  'runner.deregistered',
  'runner.enabled',
  'runner.disabled',
  'runner.token_rotated',
  'workload.created',
  'workload.changed',
  'workload.deleted',
  'instance.created',
  'instance.changed',
  'instance.deleted',
  'auth.denied',
] as const;

/** An ISO time → the value a datetime-local input shows (local time, minutes). */
function toLocalInput(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const SUBJECT_PAGES: Record<string, string> = {
  run: '/runs/',
  batch: '/batches/',
  runner: '/runners/',
  namespace: '/namespaces/',
  instance: '/instances/',
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function Subject({ value: subject }: { value: AuditEntry['subject'] }): JSX.Element {
  if (!subject) return <span class="muted">—</span>;
  const shown = UUID.test(subject.id) ? shortId(subject.id) : subject.id;
  // A secret's subject is "namespace/NAME": its namespace's secrets tab.
  const slash = subject.id.indexOf('/');
  const href =
    subject.type === 'secret' && slash > 0
      ? `/namespaces/${encodeURIComponent(subject.id.slice(0, slash))}/secrets`
      : SUBJECT_PAGES[subject.type] && `${SUBJECT_PAGES[subject.type]}${encodeURIComponent(subject.id)}`;
  return (
    <span title={`${subject.type} ${subject.id}`}>
      {subject.type} {href ? <Link href={href}>{shown}</Link> : <span class="mono">{shown}</span>}
    </span>
  );
}

function Actor({ actor }: { actor: AuditEntry['actor'] }): JSX.Element {
  const who = actor.type === 'bootstrap' ? 'ADMIN_TOKEN' : actor.type === 'system' ? 'the orchestrator' : (actor.name ?? shortId(actor.id));
  return (
    <span title={actor.id ?? undefined}>
      <span class="muted small">{actor.type}</span> {actor.type === 'runner' && actor.id ? <Link href={`/runners/${actor.id}`}>{who}</Link> : who}
    </span>
  );
}

/** `/audit` (admin): who did what, newest first; filters action and since; pages of 50. */
export function AuditPage(): JSX.Element {
  const { query } = useLocation();
  const action = query.get('action') ?? '';
  const since = query.get('since') ?? '';
  const cursor = query.get('cursor') ?? '';
  const [sinceInput, setSinceInput] = useState(since ? toLocalInput(since) : '');
  useEffect(() => setSinceInput(since ? toLocalInput(since) : ''), [since]);
  const live = useLive(() => api.audit({ action, since, cursor, limit: PAGE }), [action, since, cursor], () => false);

  const go = (next: Record<string, string>): void => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries({ action, since, ...next })) if (v) q.set(k, v);
    const s = q.toString();
    navigate(`/audit${s ? `?${s}` : ''}`);
  };

  return (
    <section>
      <div class="title-row">
        <h1>Audit log</h1>
        <button type="button" onClick={() => live.reload()}>
          Refresh
        </button>
      </div>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const d = sinceInput ? new Date(sinceInput) : null;
          go({ since: d && !Number.isNaN(d.getTime()) ? d.toISOString() : '', cursor: '' });
        }}
      >
        <label>
          Action
          <select value={action} onChange={(e) => go({ action: e.currentTarget.value, cursor: '' })}>
            <option value="">any</option>
            {AUDIT_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label>
          Since
          <input type="datetime-local" value={sinceInput} onInput={(e) => setSinceInput(e.currentTarget.value)} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={live.error} />
      {!live.data ? (
        live.loading && <Loading what="the audit log" />
      ) : live.data.items.length === 0 ? (
        <p class="muted">No entry matches.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>When</th>
              <th>Actor</th>
              <th>Action</th>
              <th>Subject</th>
              <th>Address</th>
              <th>Data</th>
            </tr>
          </thead>
          <tbody>
            {live.data.items.map((e) => (
              <tr key={e.id} data-action={e.action}>
                <td class="nowrap">
                  <DateTime at={e.at} />
                </td>
                <td>
                  <Actor actor={e.actor} />
                </td>
                <td class="mono">{e.action}</td>
                <td>
                  <Subject value={e.subject} />
                </td>
                <td class="mono">{e.ip ?? '—'}</td>
                <td>{Object.keys(e.data).length ? <code class="small">{JSON.stringify(e.data)}</code> : <span class="muted">—</span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager
        atStart={!cursor}
        next={live.data?.next_cursor}
        onFirst={() => go({ cursor: '' })}
        onNext={(next) => go({ cursor: next })}
        firstLabel="Newest"
        nextLabel="Older"
      />
    </section>
  );
}
