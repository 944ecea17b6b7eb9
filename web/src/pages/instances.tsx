import type { JSX } from 'preact';
import { api } from '../api';
import { InstanceActionFeedback, InstanceButtons, InstancePorts, InstanceWhy, useInstanceActions } from '../components/instance';
import { Pager } from '../components/pager';
import { Link, Loading, StateBadge, shortId } from '../components/ui';
import { INSTANCE_STATUSES } from '../instances';
import { useLive } from '../live';
import { navigate, useLocation } from '../router';
import { useCan } from '../session';

const PAGE = 50;

/**
 * `/instances`: every instance, oldest first (the API's order), filtered by status; Start, Stop
 * and Delete per row for a `write` token; live from the feed's `instance` events.
 */
export function InstancesPage(): JSX.Element {
  const can = useCan();
  const { query } = useLocation();
  const state = query.get('state') ?? '';
  const cursor = query.get('cursor') ?? '';
  const live = useLive(() => api.instances({ state, cursor, limit: PAGE }), [state, cursor], (e) => e.kind === 'instance');
  const actions = useInstanceActions(() => live.reload());

  const go = (next: { state?: string; cursor?: string }): void => {
    const q = new URLSearchParams();
    const all = { state, cursor: '', ...next };
    for (const [k, v] of Object.entries(all)) if (v) q.set(k, v);
    const s = q.toString();
    navigate(`/instances${s ? `?${s}` : ''}`);
  };

  return (
    <section>
      <div class="title-row">
        <h1>Instances</h1>
        {can('write') && (
          <Link href="/instances/new" class="button primary">
            New instance
          </Link>
        )}
      </div>
      <p class="muted">
        Long-running containers made from a <Link href="/workloads">workload</Link> or given inline, each kept running on a runner until
        stopped or deleted.
      </p>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          Status
          <select value={state} onChange={(e) => go({ state: e.currentTarget.value })}>
            <option value="">any</option>
            {INSTANCE_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
      </form>
      <InstanceActionFeedback state={actions} error={live.error} />
      {!live.data ? (
        live.loading && <Loading what="instances" />
      ) : live.data.items.length === 0 ? (
        <p class="muted">
          {state ? `No instance is ${state}.` : 'No instance yet.'}
          {can('write') && !state ? ' Make one with New instance.' : ''}
        </p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Status</th>
              <th>Name</th>
              <th>Image</th>
              <th>Runner</th>
              <th>Address and ports</th>
              <th>Restarts</th>
              <th>Why</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {live.data.items.map((i) => (
              <tr key={i.id} data-instance={i.id}>
                <td>
                  <StateBadge state={i.status} />
                </td>
                <td>
                  <Link href={`/instances/${i.id}`}>{i.name}</Link>
                </td>
                <td class="mono">{i.uri}</td>
                <td>{i.runner_id ? <Link href={`/runners/${i.runner_id}`}>{shortId(i.runner_id)}</Link> : <span class="muted">—</span>}</td>
                <td>
                  <InstancePorts instance={i} />
                </td>
                <td>{i.restarts}</td>
                <td>
                  <InstanceWhy instance={i} />
                </td>
                <td class="actions">
                  <InstanceButtons instance={i} state={actions} labelled />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager atStart={!cursor} next={live.data?.next_cursor} onFirst={() => go({})} onNext={(next) => go({ cursor: next })} />
    </section>
  );
}
