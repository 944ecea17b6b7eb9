import type { JSX } from 'preact';
import { api } from '../api';
import { InstanceActionFeedback, InstanceButtons, InstancePorts, useInstanceActions } from '../components/instance';
import { ErrorBox, Field, Link, Loading, StateBadge, Time, shortId } from '../components/ui';
import { environmentNames, resourcesText } from '../instances';
import { useLive } from '../live';

const ASKED: Record<string, string> = {
  RUNNING: 'to run',
  STOPPED: 'to be stopped',
  DESTROYED: 'to be destroyed',
};

function list(items: readonly string[] | undefined, mono = true): JSX.Element {
  if (!items?.length) return <span class="muted">none</span>;
  return <span class={mono ? 'mono' : undefined}>{items.join(', ')}</span>;
}

/**
 * `/instances/{id}`: every field of one instance (environment by name only), its status read
 * against what was asked, Start / Stop / Delete; live from its `instance` events.
 */
export function InstancePage({ id }: { id: string }): JSX.Element {
  const live = useLive(() => api.instance(id), [id], (e) => e.kind === 'instance' && (e.data as { id?: string }).id === id);
  const actions = useInstanceActions(() => live.reload());
  const i = live.data;

  if (!i) {
    return (
      <section>
        <h1>Instance {shortId(id)}</h1>
        <ErrorBox error={live.error} />
        {live.loading && <Loading what="the instance" />}
      </section>
    );
  }
  return (
    <section>
      <div class="title-row">
        <h1>
          Instance {i.name} <StateBadge state={i.status} />
        </h1>
        <div class="actions">
          <InstanceButtons instance={i} state={actions} />
        </div>
      </div>
      <InstanceActionFeedback state={actions} error={live.error} />
      <dl class="fields">
        <Field label="Status">
          <span data-field="status">{i.status}</span>
          <span class="muted"> (asked {ASKED[i.state] ?? i.state})</span>
        </Field>
        <Field label="Why">{i.description || <span class="muted">—</span>}</Field>
        {i.pending_reason && (
          <Field label="Waiting because">
            <span data-field="pending-reason">{i.pending_reason}</span>
          </Field>
        )}
        <Field label="Image">
          <span class="mono">{i.uri}</span>
        </Field>
        <Field label="Command">{i.command ? list(i.command) : <span class="muted">the image's default</span>}</Field>
        <Field label="Environment">{list(environmentNames(i.environment))}</Field>
        <Field label="Resources">{resourcesText(i.resources)}</Field>
        <Field label="Ports">
          <InstancePorts instance={i} />
        </Field>
        <Field label="Address">{i.ip ?? <span class="muted">— (not reported yet)</span>}</Field>
        <Field label="Labels">{list(i.labels, false)}</Field>
        <Field label="Runner">{i.runner_id ? <Link href={`/runners/${i.runner_id}`}>{i.runner_id}</Link> : <span class="muted">none</span>}</Field>
        <Field label="Workload">{i.workload_id ? <Link href="/workloads">{shortId(i.workload_id)}</Link> : <span class="muted">inline</span>}</Field>
        <Field label="Restarts">{i.restarts}</Field>
        <Field label="Type">{i.type}</Field>
        <Field label="ID">
          <span class="mono">{i.id}</span>
        </Field>
        <Field label="Created">
          <Time at={i.created_at} />
        </Field>
        <Field label="Updated">
          <Time at={i.updated_at} />
        </Field>
      </dl>
      <p class="small muted">
        The environment is listed by name only. <Link href="/instances">All instances</Link>
      </p>
    </section>
  );
}
