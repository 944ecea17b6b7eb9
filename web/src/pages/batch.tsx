import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText, type BatchResponse, type RunSummary } from '../api';
import { BatchProgress, batchCounts } from '../components/batch-progress';
import { ErrorBox, Link, Loading, StateBadge, Time, duration, shortId } from '../components/ui';
import { useLive } from '../live';
import { useCan } from '../session';

const GROUPS = ['running', 'waiting', 'failed', 'timeout', 'canceled', 'finished'] as const;

async function loadBatch(id: string): Promise<{ batch: BatchResponse; runs: RunSummary[] }> {
  const batch = await api.batch(id);
  const runs: RunSummary[] = [];
  let cursor: string | undefined;
  // Every run of the batch (pages of 500; a batch is one submission, so this stays bounded).
  for (let i = 0; i < 20; i++) {
    const page = await api.runs({ batch: id, limit: 500, cursor });
    runs.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return { batch, runs };
}

/** `/batches/{id}`: the batch's runs grouped by state, counts, a progress bar, "Cancel batch". */
export function BatchPage({ id }: { id: string }): JSX.Element {
  const can = useCan();
  const live = useLive(
    () => loadBatch(id),
    [id],
    (e) =>
      (e.kind === 'batch' && (e.data as { batch_id?: string }).batch_id === id) ||
      (e.kind === 'run' && (e.data as { batch_id?: string }).batch_id === id),
  );
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const data = live.data;

  const cancel = async (): Promise<void> => {
    setBusy(true);
    setActionError(null);
    try {
      await api.cancelBatch(id);
      live.reload();
    } catch (err) {
      setActionError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  if (!data) {
    return (
      <section>
        <h1>Batch {shortId(id)}</h1>
        <ErrorBox error={live.error} />
        {live.loading && <Loading what="the batch" />}
      </section>
    );
  }
  const { batch, runs } = data;
  const counts = batchCounts(batch);
  const open = counts.by.waiting + counts.by.running > 0;
  return (
    <section>
      <div class="title-row">
        <h1>
          Batch <span class="mono">{shortId(batch.batch_id)}</span>
        </h1>
        {open && can('write') && (
          <button type="button" class="danger" disabled={busy} onClick={() => void cancel()}>
            Cancel batch
          </button>
        )}
      </div>
      <ErrorBox error={actionError ?? live.error} />
      <p>
        Namespace <strong>{batch.namespace}</strong> · submitted <Time at={batch.created_at} /> · {counts.total} runs
      </p>
      <BatchProgress batch={batch} />
      <ul class="counts inline" aria-label="Runs by state">
        {GROUPS.map((s) => (
          <li key={s}>
            <StateBadge state={s} /> <strong data-count={s}>{counts.by[s]}</strong>
          </li>
        ))}
      </ul>
      {GROUPS.filter((s) => runs.some((r) => r.state === s)).map((s) => (
        <div key={s}>
          <h2>
            <StateBadge state={s} /> {runs.filter((r) => r.state === s).length}
          </h2>
          <table>
            <thead>
              <tr>
                <th>Run</th>
                <th>Repository</th>
                <th>Runner</th>
                <th>Created</th>
                <th>Duration</th>
                <th>Exit</th>
              </tr>
            </thead>
            <tbody>
              {runs
                .filter((r) => r.state === s)
                .map((r) => (
                  <tr key={r.id}>
                    <td>
                      <Link href={`/runs/${r.id}`}>{shortId(r.id)}</Link>
                    </td>
                    <td class="mono">{r.repo}</td>
                    <td>{r.host ? <Link href={`/runners/${r.host}`}>{shortId(r.host)}</Link> : '—'}</td>
                    <td>
                      <Time at={r.created_at} />
                    </td>
                    <td>{duration(r.started_at, r.finished_at)}</td>
                    <td>{r.exit_code ?? ''}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}
