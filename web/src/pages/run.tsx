import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText, isFinal } from '../api';
import { ErrorBox, Field, Link, Loading, StateBadge, Time, duration, shortId } from '../components/ui';
import { useLive, useNow } from '../live';
import { LogView } from '../log/log-view';
import { useCan } from '../session';

/** `/runs/{id}`: the run's fields and state, a "Cancel" button while it is not final, its live log. */
export function RunPage({ id }: { id: string }): JSX.Element {
  const can = useCan();
  const live = useLive(() => api.run(id), [id], (e) => e.kind === 'run' && (e.data as { id?: string }).id === id);
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = live.data;
  const now = useNow(run?.state === 'running');

  const cancel = async (): Promise<void> => {
    setBusy(true);
    setActionError(null);
    try {
      await api.cancelRun(id);
      live.reload();
    } catch (err) {
      setActionError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (!run) {
    return (
      <section>
        <h1>Run {shortId(id)}</h1>
        <ErrorBox error={live.error} />
        {live.loading && <Loading what="the run" />}
      </section>
    );
  }
  const final = isFinal(run.state);
  return (
    <section>
      <div class="title-row">
        <h1>
          Run <span class="mono">{shortId(run.id)}</span> <StateBadge state={run.state} />
        </h1>
        {!final && can('write') && (
          <button type="button" class="danger" disabled={busy || run.cancel_requested_at !== null} onClick={() => void cancel()}>
            {run.cancel_requested_at ? 'Canceling…' : 'Cancel'}
          </button>
        )}
      </div>
      <ErrorBox error={actionError ?? live.error} />
      <dl class="fields">
        <Field label="State">
          <span data-field="state">{run.state}</span>
          {run.reason ? <span class="muted"> ({run.reason})</span> : null}
        </Field>
        {run.state === 'waiting' && <Field label="Why it waits">{run.pending_reason ?? 'waiting for a free runner'}</Field>}
        <Field label="Namespace">{run.namespace}</Field>
        <Field label="Repository">
          <span class="mono">{run.repo}</span>
        </Field>
        {run.image && (
          <Field label="Image">
            <span class="mono" data-field="image">
              {run.image}
            </span>
          </Field>
        )}
        <Field label="Batch">
          <Link href={`/batches/${run.batch_id}`}>{run.batch_id}</Link>
        </Field>
        <Field label="Runner">{run.host ? <Link href={`/runners/${run.host}`}>{run.host}</Link> : '—'}</Field>
        <Field label="Exit code">{run.exit_code ?? '—'}</Field>
        <Field label="Attempt">
          {run.attempt} of {run.max_attempts}
        </Field>
        <Field label="Created">
          <Time at={run.created_at} />
        </Field>
        <Field label="Duration">{duration(run.started_at, run.finished_at, now)}</Field>
        <Field label="Timeout">{run.timeout} s</Field>
        <Field label="Priority">{run.priority}</Field>
        <Field label="Labels">{run.labels.length ? run.labels.join(', ') : '—'}</Field>
        {Object.keys(run.env).length > 0 && <Field label="Environment">{Object.keys(run.env).join(', ')}</Field>}
        {run.secrets?.length > 0 && (
          <Field label="Secrets">
            <span class="mono">{run.secrets.join(', ')}</span> <span class="muted small">(values masked in the log)</span>
          </Field>
        )}
        {run.result && (
          <Field label="Result">
            <code>{JSON.stringify(run.result)}</code>
          </Field>
        )}
      </dl>
      <details>
        <summary>Script</summary>
        <pre class="script">{run.script.join('\n')}</pre>
      </details>
      <h2>Log</h2>
      <LogView key={run.id} runId={run.id} live={!final} size={run.logs} onEnd={() => live.reload()} />
    </section>
  );
}
