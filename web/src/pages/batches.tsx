import type { JSX } from 'preact';
import { api } from '../api';
import { BatchProgress } from '../components/batch-progress';
import { ErrorBox, Link, Loading, Time, shortId } from '../components/ui';
import { useLive } from '../live';
import { navigate, useLocation } from '../router';
import { Pager } from '../components/pager';

const PAGE = 25;

/** `/batches`: every submission, newest first, with its progress. */
export function BatchesPage(): JSX.Element {
  const { query } = useLocation();
  const cursor = query.get('cursor') ?? '';
  const namespace = query.get('namespace') ?? '';
  const live = useLive(
    async () => {
      const page = await api.batches({ cursor, namespace, limit: PAGE });
      return { page, details: await Promise.all(page.items.map((b) => api.batch(b.batch_id))) };
    },
    [cursor, namespace],
    (e) => e.kind === 'batch' || e.kind === 'run',
  );
  return (
    <section>
      <h1>Batches</h1>
      {namespace && (
        <p>
          Namespace <strong>{namespace}</strong> · <Link href="/batches">all namespaces</Link>
        </p>
      )}
      <ErrorBox error={live.error} />
      {!live.data ? (
        live.loading && <Loading what="batches" />
      ) : live.data.details.length === 0 ? (
        <p class="muted">
          No batches yet. <Link href="/runs/new">Submit a run</Link>.
        </p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Batch</th>
              <th>Namespace</th>
              <th>Submitted</th>
              <th>Progress</th>
            </tr>
          </thead>
          <tbody>
            {live.data.details.map((b) => (
              <tr key={b.batch_id}>
                <td>
                  <Link href={`/batches/${b.batch_id}`}>{shortId(b.batch_id)}</Link>
                </td>
                <td>
                  <Link href={`/batches?namespace=${encodeURIComponent(b.namespace)}`}>{b.namespace}</Link>
                </td>
                <td>
                  <Time at={b.created_at} />
                </td>
                <td>
                  <BatchProgress batch={b} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager
        atStart={!cursor}
        next={live.data?.page.next_cursor}
        onFirst={() => navigate(`/batches${namespace ? `?namespace=${encodeURIComponent(namespace)}` : ''}`)}
        onNext={(next) => {
          const q = new URLSearchParams({ cursor: next });
          if (namespace) q.set('namespace', namespace);
          navigate(`/batches?${q.toString()}`);
        }}
      />
    </section>
  );
}
