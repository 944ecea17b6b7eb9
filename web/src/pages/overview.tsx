import type { JSX } from 'preact';
import { api, RUN_STATES, type BatchResponse, type InstanceResponse, type RunDetail, type RunnerSummary } from '../api';
import { BatchProgress, batchCounts } from '../components/batch-progress';
import { ErrorBox, Link, Loading, StateBadge, Time, shortId } from '../components/ui';
import { useLive } from '../live';

const COUNT_LIMIT = 500;

interface Overview {
  runners: RunnerSummary[];
  runnersMore: boolean;
  runs: Record<string, { n: number; more: boolean }>;
  waiting: RunDetail[];
  batches: BatchResponse[];
  /** Instances not TERMINATED (SPEC section 10), or null when the token may not list them. */
  instances: { items: InstanceResponse[]; more: boolean } | null;
}

/** The instance statuses the overview counts (TERMINATED ones are history). */
const INSTANCE_COUNTS = ['SCHEDULING', 'STARTING', 'RUNNING', 'CRASHED', 'FAILED', 'STOPPED'] as const;

async function loadOverview(): Promise<Overview> {
  const [runners, counts, waiting, batches, instances] = await Promise.all([
    api.runners({ limit: COUNT_LIMIT }),
    Promise.all(RUN_STATES.map((state) => api.runs({ state, limit: COUNT_LIMIT }))),
    api.runs({ state: 'waiting', limit: 10 }),
    api.batches({ limit: 8 }),
    api.instances({ limit: COUNT_LIMIT }).catch(() => null),
  ]);
  const runs: Overview['runs'] = {};
  RUN_STATES.forEach((state, i) => (runs[state] = { n: counts[i].items.length, more: counts[i].next_cursor !== null }));
  return {
    runners: runners.items.filter((r) => !r.deregistered),
    runnersMore: runners.next_cursor !== null,
    runs,
    waiting: await Promise.all(waiting.items.map((r) => api.run(r.id))),
    batches: await Promise.all(batches.items.map((b) => api.batch(b.batch_id))),
    instances: instances && { items: instances.items.filter((i) => i.status !== 'TERMINATED'), more: instances.next_cursor !== null },
  };
}

/** `/`: runners by state, runs by state, instances by status (when there are any), what is waiting and why, recent batches. */
export function OverviewPage(): JSX.Element {
  const live = useLive(loadOverview, [], (e) => e.kind === 'run' || e.kind === 'batch' || e.kind === 'runner' || e.kind === 'instance', 500);
  const o = live.data;
  return (
    <section>
      <h1>Overview</h1>
      <ErrorBox error={live.error} />
      {!o ? (
        live.loading && <Loading what="the overview" />
      ) : (
        <>
          <div class="cards">
            <div class="card" aria-label="Runners by state">
              <h2>Runners</h2>
              <ul class="counts">
                {(['waiting', 'running', 'dead'] as const).map((s) => (
                  <li key={s}>
                    <StateBadge state={s} /> <strong data-count={`runners-${s}`}>{o.runners.filter((r) => r.state === s).length}</strong>
                  </li>
                ))}
                <li>
                  <span class="state state-disabled">disabled</span> <strong>{o.runners.filter((r) => !r.enabled).length}</strong>
                </li>
              </ul>
              <Link href="/runners">All runners</Link>
            </div>
            <div class="card" aria-label="Runs by state">
              <h2>Runs</h2>
              <ul class="counts">
                {RUN_STATES.map((s) => (
                  <li key={s}>
                    <Link href={`/runs?state=${s}`}>
                      <StateBadge state={s} />
                    </Link>{' '}
                    <strong data-count={`runs-${s}`}>
                      {o.runs[s].n}
                      {o.runs[s].more ? '+' : ''}
                    </strong>
                  </li>
                ))}
              </ul>
              <Link href="/runs">All runs</Link>
            </div>
            {o.instances && o.instances.items.length > 0 && (
              <div class="card" aria-label="Instances by status">
                <h2>Instances</h2>
                <ul class="counts">
                  {INSTANCE_COUNTS.map((s) => (
                    <li key={s}>
                      <Link href={`/instances?state=${s}`}>
                        <StateBadge state={s} />
                      </Link>{' '}
                      <strong data-count={`instances-${s}`}>
                        {o.instances?.items.filter((i) => i.status === s).length}
                        {o.instances?.more ? '+' : ''}
                      </strong>
                    </li>
                  ))}
                </ul>
                <Link href="/instances">All instances</Link>
              </div>
            )}
          </div>

          <h2>Waiting runs</h2>
          {o.waiting.length === 0 ? (
            <p class="muted">Nothing is waiting.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>Run</th>
                  <th>Namespace</th>
                  <th>Repository</th>
                  <th>Waiting since</th>
                  <th>Why it waits</th>
                </tr>
              </thead>
              <tbody>
                {o.waiting.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <Link href={`/runs/${r.id}`}>{shortId(r.id)}</Link>
                    </td>
                    <td>{r.namespace}</td>
                    <td class="mono">{r.repo}</td>
                    <td>
                      <Time at={r.created_at} />
                    </td>
                    <td>{r.pending_reason ?? <span class="muted">next free runner</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}

          <h2>Recent batches</h2>
          {o.batches.length === 0 ? (
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
                  <th>Runs</th>
                  <th>Progress</th>
                </tr>
              </thead>
              <tbody>
                {o.batches.map((b) => (
                  <tr key={b.batch_id}>
                    <td>
                      <Link href={`/batches/${b.batch_id}`}>{shortId(b.batch_id)}</Link>
                    </td>
                    <td>{b.namespace}</td>
                    <td>
                      <Time at={b.created_at} />
                    </td>
                    <td>{batchCounts(b).total}</td>
                    <td>
                      <BatchProgress batch={b} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}
