import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, RUN_STATES } from '../api';
import { ErrorBox, Link, Loading, StateBadge, Time, duration, shortId } from '../components/ui';
import { useLive } from '../live';
import { navigate, useLocation } from '../router';
import { Pager } from '../components/pager';

const PAGE = 50;

/** `/runs`: every run, newest first, filtered by state, namespace and batch; paginated. */
export function RunsPage(): JSX.Element {
  const { query } = useLocation();
  const state = query.get('state') ?? '';
  const namespace = query.get('namespace') ?? '';
  const batch = query.get('batch') ?? '';
  const cursor = query.get('cursor') ?? '';
  const [ns, setNs] = useState(namespace);
  const [b, setB] = useState(batch);
  useEffect(() => {
    setNs(namespace);
    setB(batch);
  }, [namespace, batch]);

  const live = useLive(
    () => api.runs({ state, namespace, batch, cursor, limit: PAGE }),
    [state, namespace, batch, cursor],
    (e) => e.kind === 'run' || e.kind === 'batch',
  );

  const go = (next: Record<string, string>): void => {
    const q = new URLSearchParams();
    const all = { state, namespace, batch, ...next };
    for (const [k, v] of Object.entries(all)) if (v) q.set(k, v);
    const s = q.toString();
    navigate(`/runs${s ? `?${s}` : ''}`);
  };

  return (
    <section>
      <h1>Runs</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          go({ namespace: ns.trim(), batch: b.trim(), cursor: '' });
        }}
      >
        <label>
          State
          <select value={state} onChange={(e) => go({ state: e.currentTarget.value, cursor: '' })}>
            <option value="">any</option>
            {RUN_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Namespace
          <input value={ns} onInput={(e) => setNs(e.currentTarget.value)} placeholder="any" />
        </label>
        <label>
          Batch
          <input value={b} onInput={(e) => setB(e.currentTarget.value)} placeholder="batch id" size={38} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={live.error} />
      {!live.data ? (
        live.loading && <Loading what="runs" />
      ) : live.data.items.length === 0 ? (
        <p class="muted">No runs match.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Run</th>
              <th>State</th>
              <th>Repository</th>
              <th>Batch</th>
              <th>Runner</th>
              <th>Created</th>
              <th>Duration</th>
              <th>Exit</th>
            </tr>
          </thead>
          <tbody>
            {live.data.items.map((r) => (
              <tr key={r.id}>
                <td>
                  <Link href={`/runs/${r.id}`}>{shortId(r.id)}</Link>
                </td>
                <td>
                  <StateBadge state={r.state} />
                </td>
                <td class="mono">{r.repo}</td>
                <td>
                  <Link href={`/batches/${r.batch_id}`}>{shortId(r.batch_id)}</Link>
                </td>
                <td>{r.host ? <Link href={`/runners/${r.host}`}>{shortId(r.host)}</Link> : <span class="muted">—</span>}</td>
                <td>
                  <Time at={r.created_at} />
                </td>
                <td>{duration(r.started_at, r.finished_at)}</td>
                <td>{r.exit_code ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager atStart={!cursor} next={live.data?.next_cursor} onFirst={() => go({ cursor: '' })} onNext={(next) => go({ cursor: next })} />
    </section>
  );
}
