import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText, type WorkloadResponse } from '../api';
import { Confirm } from '../components/admin';
import { Pager } from '../components/pager';
import { TemplateFields } from '../components/template-fields';
import { ErrorBox, Link, Loading, Time } from '../components/ui';
import { EMPTY_TEMPLATE, FieldError, resourcesText, templateBody, type TemplateForm } from '../instances';
import { useLive } from '../live';
import { navigate, useLocation } from '../router';
import { useCan } from '../session';

const PAGE = 50;

/**
 * `/workloads`: the templates instances are made from (SPEC section 10): list; create and delete
 * with a `write` token (a workload with instances that are not TERMINATED cannot be deleted: the
 * server's 409 says so). Workloads send no feed events: the list reloads after each change.
 */
export function WorkloadsPage(): JSX.Element {
  const can = useCan();
  const { query } = useLocation();
  const cursor = query.get('cursor') ?? '';
  const live = useLive(() => api.workloads({ cursor, limit: PAGE }), [cursor], () => false);
  const [form, setForm] = useState<TemplateForm>(EMPTY_TEMPLATE);
  const [invalid, setInvalid] = useState<keyof TemplateForm | null>(null);
  const [deleting, setDeleting] = useState<WorkloadResponse | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const create = async (event: Event): Promise<void> => {
    event.preventDefault();
    setFormError(null);
    setInvalid(null);
    setNotice(null);
    let body;
    try {
      body = templateBody(form);
    } catch (err) {
      if (err instanceof FieldError) setInvalid(err.field);
      setFormError(errorText(err));
      return;
    }
    setBusy(true);
    try {
      const made = await api.createWorkload(body);
      setNotice(`Created workload ${made.name}.`);
      setForm(EMPTY_TEMPLATE);
      live.reload();
    } catch (err) {
      setFormError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (w: WorkloadResponse): Promise<void> => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      await api.deleteWorkload(w.id);
      setNotice(`Deleted workload ${w.name}.`);
      setDeleting(null);
      live.reload();
    } catch (err) {
      setError(`Delete ${w.name}: ${errorText(err)}`);
      setDeleting(null);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>Workloads</h1>
      <p class="muted">
        Named templates for <Link href="/instances">instances</Link>: an image, its command, environment, ports, labels and resources. An
        instance keeps its own copy: changing or deleting a workload leaves its instances as they are.
      </p>
      {deleting && (
        <Confirm label="Confirm deletion" yes="Yes, delete" busy={busy} onYes={() => void remove(deleting)} onNo={() => setDeleting(null)}>
          Delete workload <strong>{deleting.name}</strong>? Instances made from it must all be TERMINATED first.
        </Confirm>
      )}
      <ErrorBox error={error ?? live.error} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {!live.data ? (
        live.loading && <Loading what="workloads" />
      ) : live.data.items.length === 0 ? (
        <p class="muted">No workload yet{can('write') ? ': create one below' : ''}.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Image</th>
              <th>Ports</th>
              <th>Labels</th>
              <th>Resources</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {live.data.items.map((w) => (
              <tr key={w.id} data-workload={w.id}>
                <td>{w.name}</td>
                <td class="mono">{w.uri}</td>
                <td class="mono">{w.ports.join(', ') || <span class="muted">—</span>}</td>
                <td>{w.labels.join(', ') || <span class="muted">—</span>}</td>
                <td>{resourcesText(w.resources)}</td>
                <td>
                  <Time at={w.created_at} />
                </td>
                <td class="actions">
                  {can('write') && (
                    <>
                      <Link href={`/instances/new?workload=${w.id}`} aria-label={`New instance of ${w.name}`}>
                        New instance
                      </Link>
                      <button type="button" class="danger" disabled={busy} onClick={() => setDeleting(w)} aria-label={`Delete ${w.name}`}>
                        Delete
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <Pager
        atStart={!cursor}
        next={live.data?.next_cursor}
        onFirst={() => navigate('/workloads')}
        onNext={(next) => navigate(`/workloads?cursor=${encodeURIComponent(next)}`)}
      />
      {can('write') && (
        <>
          <h2>Create a workload</h2>
          <form class="stack" onSubmit={(e) => void create(e)}>
            <TemplateFields form={form} set={(patch) => setForm((now) => ({ ...now, ...patch }))} nameRequired invalid={invalid} />
            <div class="actions">
              <button type="submit" class="primary" disabled={busy}>
                Create workload
              </button>
            </div>
            <ErrorBox error={formError} />
          </form>
        </>
      )}
    </section>
  );
}
