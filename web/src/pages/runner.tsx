import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText, type ContainerFactsDto } from '../api';
import { ErrorBox, Field, Link, Loading, StateBadge, Time, shortId } from '../components/ui';
import { InstancePorts, InstanceWhy } from '../components/instance';
import { useLive } from '../live';
import { useCan } from '../session';

function amounts(v: object | null | undefined): string {
  if (!v) return '—';
  const parts = Object.entries(v)
    .filter(([, x]) => x !== null && x !== undefined)
    .map(([k, x]) => `${k} ${k === 'cpu' ? String(x) : `${String(x)} MiB`}`);
  return parts.length ? parts.join(', ') : '—';
}

/** The container engine facts as the runner reported them (a partial report shows what it has). */
function engine(f: Partial<ContainerFactsDto> | null | undefined): JSX.Element {
  if (!f) return <span class="muted">none (shell only)</span>;
  const parts = [f.engine, f.version, f.apiVersion && `API ${f.apiVersion}`, f.os && f.arch ? `${f.os}/${f.arch}` : (f.os ?? f.arch)].filter(Boolean);
  return (
    <span data-field="container">
      {parts.join(' · ')}{' '}
      {f.healthy === undefined ? null : f.healthy ? <span class="state state-finished">healthy</span> : <span class="state state-failed">unhealthy</span>}
    </span>
  );
}

/**
 * The instances a runner holds (`GET /api/instances?runner=`), live: an event about one of them,
 * or about any instance now placed on this runner, reloads the list.
 */
function RunnerInstances({ id }: { id: string }): JSX.Element {
  const live = useLive(
    () => api.instances({ runner: id, limit: 100 }),
    [id],
    (e, page) => {
      if (e.kind !== 'instance') return false;
      const i = e.data as { id?: string; runner_id?: string | null };
      return i.runner_id === id || (page?.items.some((x) => x.id === i.id) ?? false);
    },
  );
  const items = live.data?.items;
  return (
    <>
      <h2>Instances</h2>
      <ErrorBox error={live.error} />
      {!items ? (
        live.loading && <Loading what="its instances" />
      ) : items.length === 0 ? (
        <p class="muted">It holds no instance.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Status</th>
              <th>Name</th>
              <th>Image</th>
              <th>Address and ports</th>
              <th>Why</th>
            </tr>
          </thead>
          <tbody>
            {items.map((i) => (
              <tr key={i.id} data-instance={i.id}>
                <td>
                  <StateBadge state={i.status} />
                </td>
                <td>
                  <Link href={`/instances/${i.id}`}>{i.name}</Link>
                </td>
                <td class="mono">{i.uri}</td>
                <td>
                  <InstancePorts instance={i} />
                </td>
                <td>
                  <InstanceWhy instance={i} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {live.data?.next_cursor && (
        <p class="small muted">
          The first 100 are shown. <Link href="/instances">All instances</Link>
        </p>
      )}
    </>
  );
}

/**
 * `/runners/{id}`: state, labels, resources and usage, container engine, executors, current run,
 * the instances it holds; Disable/Enable, Rotate token, Deregister (admin).
 */
export function RunnerPage({ id }: { id: string }): JSX.Element {
  const can = useCan();
  const live = useLive(() => api.runner(id), [id], (e) => e.kind === 'runner' && (e.data as { runner_id?: string }).runner_id === id);
  const [actionError, setActionError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const r = live.data;

  const act = async (what: () => Promise<unknown>, done: string | null = null): Promise<void> => {
    setBusy(true);
    setActionError(null);
    setNotice(null);
    try {
      await what();
      setNotice(done);
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
        {!r.deregistered && can('admin') && (
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
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                void act(() => api.rotateRunnerToken(id), 'Its next heartbeat answer offers the runner a new token; the current one keeps working until the new one is used.')
              }
            >
              Rotate token
            </button>
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
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <dl class="fields">
        <Field label="State">
          <span data-field="state">{r.state}</span>
        </Field>
        <Field label="Enabled">{r.enabled ? 'yes' : 'no (receives no run)'}</Field>
        <Field label="Labels">{r.labels.join(', ') || '—'}</Field>
        <Field label="Namespaces">{r.namespaces ? r.namespaces.join(', ') : <span class="muted">any</span>}</Field>
        <Field label="Container engine">{engine(r.container)}</Field>
        <Field label="Executors">
          <span data-field="executors">{(r.executors ?? ['shell']).join(', ')}</span>
        </Field>
        <Field label="Default image">{r.default_image ? <span class="mono">{r.default_image}</span> : <span class="muted">none</span>}</Field>
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
      <RunnerInstances id={id} />
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
