import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText } from '../api';
import { ErrorBox, Field, Link, Loading, StateBadge, Time, shortId } from '../components/ui';
import { useLive } from '../live';

function amounts(v: Record<string, unknown> | null | undefined): string {
  if (!v) return '—';
  const parts = Object.entries(v)
    .filter(([, x]) => x !== null && x !== undefined)
    .map(([k, x]) => `${k} ${k === 'cpu' ? String(x) : `${String(x)} MiB`}`);
  return parts.length ? parts.join(', ') : '—';
}

/** `/runners/{id}`: state, labels, resources and usage, current run, Disable/Enable, Deregister. */
export function RunnerPage({ id }: { id: string }): JSX.Element {
  const live = useLive(() => api.runner(id), [id], (e) => e.kind === 'runner' && (e.data as { runner_id?: string }).runner_id === id);
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const r = live.data;

  const act = async (what: () => Promise<unknown>): Promise<void> => {
    setBusy(true);
    setActionError(null);
    try {
      await what();
      setConfirming(false);
      live.reload();
    } catch (err) {
      setActionError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (!r) {
    return (
      <section>
        <h1>Runner {shortId(id)}</h1>
        <ErrorBox error={live.error} />
        {live.loading && <Loading what="the runner" />}
      </section>
    );
  }
  const system = r.system as { os?: { description?: string }; cpu?: { model?: string; logicalCores?: number } } | null;
  return (
    <section>
      <div class="title-row">
        <h1>
          Runner {r.name || shortId(r.runner_id)} <StateBadge state={r.deregistered ? 'deregistered' : r.state} />
        </h1>
        {!r.deregistered && (
          <div class="actions">
            {r.enabled ? (
              <button type="button" disabled={busy} onClick={() => void act(() => api.disableRunner(id))}>
                Disable
              </button>
            ) : (
              <button type="button" disabled={busy} onClick={() => void act(() => api.enableRunner(id))}>
                Enable
              </button>
            )}
            {!confirming && (
              <button type="button" class="danger" disabled={busy} onClick={() => setConfirming(true)}>
                Deregister
              </button>
            )}
          </div>
        )}
      </div>
      {confirming && (
        <div class="confirm" role="alertdialog" aria-label="Confirm deregistration">
          <p>
            Deregister <strong>{r.name}</strong>? It is blacklisted forever: its token stops working and a run it holds goes back to
            waiting.
          </p>
          <button type="button" class="danger" disabled={busy} onClick={() => void act(() => api.deregisterRunner(id))}>
            Yes, deregister
          </button>
          <button type="button" onClick={() => setConfirming(false)}>
            Keep it
          </button>
        </div>
      )}
      <ErrorBox error={actionError ?? live.error} />
      <dl class="fields">
        <Field label="State">
          <span data-field="state">{r.state}</span>
        </Field>
        <Field label="Enabled">{r.enabled ? 'yes' : 'no (receives no run)'}</Field>
        <Field label="Labels">{r.labels.join(', ') || '—'}</Field>
        <Field label="Current run">{r.current_run ? <Link href={`/runs/${r.current_run}`}>{r.current_run}</Link> : '—'}</Field>
        <Field label="Resources">{amounts(r.resources)}</Field>
        <Field label="Usage">{amounts(r.usage)}</Field>
        <Field label="Address">{r.runner_ip ?? '—'}</Field>
        <Field label="System">
          {system ? [system.os?.description, system.cpu?.model, system.cpu?.logicalCores && `${system.cpu.logicalCores} cores`].filter(Boolean).join(' · ') : '—'}
        </Field>
        <Field label="Registered">
          <Time at={r.registered_at} />
        </Field>
        <Field label="Last heartbeat">
          <Time at={r.last_heartbeat_at} />
        </Field>
      </dl>
      <h2>Recent runs</h2>
      {r.runner_run.length === 0 ? (
        <p class="muted">No run yet.</p>
      ) : (
        <ul class="plain">
          {r.runner_run.slice(0, 20).map((run) => (
            <li key={run}>
              <Link href={`/runs/${run}`}>{run}</Link>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
