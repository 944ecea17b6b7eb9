import type { JSX } from 'preact';
import { api, type RunnerSummary } from '../api';
import { ErrorBox, Link, Loading, StateBadge, Time, shortId } from '../components/ui';
import { useLive } from '../live';

async function allRunners(): Promise<RunnerSummary[]> {
  const out: RunnerSummary[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 20; i++) {
    const page = await api.runners({ limit: 500, cursor });
    out.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

/** `/runners`: every registered runner with its state, labels and current run. */
export function RunnersPage(): JSX.Element {
  const live = useLive(allRunners, [], (e) => e.kind === 'runner');
  const runners = live.data?.filter((r) => !r.deregistered);
  return (
    <section>
      <h1>Runners</h1>
      <ErrorBox error={live.error} />
      {!runners ? (
        live.loading && <Loading what="runners" />
      ) : runners.length === 0 ? (
        <p class="muted">
          No runner is registered. Start one with <code>pulse-runner register</code> (see the README) or <code>npm run demo</code>.
        </p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>State</th>
              <th>Enabled</th>
              <th>Labels</th>
              <th>Current run</th>
              <th>Last heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {runners.map((r) => (
              <tr key={r.runner_id}>
                <td>
                  <Link href={`/runners/${r.runner_id}`}>{r.name || shortId(r.runner_id)}</Link>
                </td>
                <td>
                  <StateBadge state={r.state} />
                </td>
                <td>{r.enabled ? 'yes' : <span class="state state-disabled">disabled</span>}</td>
                <td>{r.labels.join(', ') || <span class="muted">—</span>}</td>
                <td>{r.current_run ? <Link href={`/runs/${r.current_run}`}>{shortId(r.current_run)}</Link> : <span class="muted">—</span>}</td>
                <td>
                  <Time at={r.last_heartbeat_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
