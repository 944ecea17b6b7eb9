import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, errorText, type PutInstanceRequest, type WorkloadResponse } from '../api';
import { TemplateFields } from '../components/template-fields';
import { ErrorBox, Link } from '../components/ui';
import { EMPTY_TEMPLATE, FieldError, templateBody, type TemplateForm } from '../instances';
import { navigate, useLocation } from '../router';

const NAME = /^[A-Za-z0-9._-]{1,63}$/;

/** Every workload, for the picker (a few pages of 500 at most). */
async function allWorkloads(): Promise<WorkloadResponse[]> {
  const out: WorkloadResponse[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10; i++) {
    const page = await api.workloads({ limit: 500, cursor });
    out.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

/**
 * `/instances/new` (write): an instance from a workload (its fields copied, an optional name) or
 * given inline → `PUT /api/instances` → the new instance's page. On an error the form keeps
 * everything typed.
 */
export function NewInstancePage(): JSX.Element {
  const wanted = useLocation().query.get('workload');
  const [workloads, setWorkloads] = useState<WorkloadResponse[] | null>(null);
  const [source, setSource] = useState<'workload' | 'inline'>('workload');
  const [workloadId, setWorkloadId] = useState('');
  const [workloadName, setWorkloadName] = useState('');
  const [form, setForm] = useState<TemplateForm>(EMPTY_TEMPLATE);
  const [invalid, setInvalid] = useState<keyof TemplateForm | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let alive = true;
    allWorkloads().then(
      (list) => {
        if (!alive) return;
        setWorkloads(list);
        // A workload named in the URL (`?workload=`) is picked; none at all: inline.
        const pick = list.find((w) => w.id === wanted) ?? list[0];
        if (pick) setWorkloadId((now) => now || pick.id);
        else setSource('inline');
      },
      (err) => {
        if (!alive) return;
        setWorkloads([]);
        setSource('inline');
        setError(`Could not list the workloads: ${errorText(err)}`);
      },
    );
    return () => {
      alive = false;
    };
  }, []);

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    setError(null);
    setInvalid(null);
    let body: PutInstanceRequest;
    try {
      if (source === 'workload') {
        if (!workloadId) throw new Error('Pick a workload, or give the fields inline.');
        const name = workloadName.trim();
        if (name && !NAME.test(name)) throw new FieldError('name', 'Name: 1 to 63 letters, digits, ".", "_" or "-"');
        body = { workload_id: workloadId, ...(name && { name }) };
      } else {
        const { name, ...rest } = templateBody(form);
        body = { ...rest, ...(name && { name }) };
      }
    } catch (err) {
      if (err instanceof FieldError) setInvalid(err.field);
      setError(errorText(err));
      return;
    }
    setBusy(true);
    try {
      const made = await api.createInstance(body);
      navigate(`/instances/${made.id}`);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  const chosen = workloads?.find((w) => w.id === workloadId);
  return (
    <section>
      <h1>New instance</h1>
      <form class="stack" onSubmit={(e) => void submit(e)}>
        <fieldset>
          <legend>Made from</legend>
          <div class="row">
            <label class="check">
              <input type="radio" name="source" value="workload" checked={source === 'workload'} onChange={() => setSource('workload')} />
              a workload
            </label>
            <label class="check">
              <input type="radio" name="source" value="inline" checked={source === 'inline'} onChange={() => setSource('inline')} />
              fields given here
            </label>
          </div>
        </fieldset>
        {source === 'workload' ? (
          <>
            {workloads && workloads.length === 0 ? (
              <p class="notice">
                There is no workload yet: <Link href="/workloads">create one</Link>, or give the fields here.
              </p>
            ) : (
              <label>
                Workload
                <select value={workloadId} onChange={(e) => setWorkloadId(e.currentTarget.value)} required>
                  {workloads?.map((w) => (
                    <option key={w.id} value={w.id}>
                      {w.name} ({w.uri})
                    </option>
                  ))}
                </select>
              </label>
            )}
            {chosen && (
              <p class="small muted">
                Copies its image <span class="mono">{chosen.uri}</span>
                {chosen.ports.length ? `, ports ${chosen.ports.join(', ')}` : ''}
                {chosen.labels.length ? `, labels ${chosen.labels.join(', ')}` : ''}; later changes to the workload do not reach this instance.
              </p>
            )}
            <label>
              Name (optional: the workload's name)
              <input
                value={workloadName}
                onInput={(e) => setWorkloadName(e.currentTarget.value)}
                pattern="[A-Za-z0-9._\-]{1,63}"
                title="1 to 63 letters, digits, '.', '_' or '-'"
                aria-invalid={invalid === 'name' ? true : undefined}
              />
            </label>
          </>
        ) : (
          <TemplateFields form={form} set={(patch) => setForm((now) => ({ ...now, ...patch }))} nameRequired={false} invalid={invalid} />
        )}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy || (source === 'workload' && !workloadId)}>
            Create instance
          </button>
          <Link href="/instances">Cancel</Link>
        </div>
        <ErrorBox error={error} />
      </form>
    </section>
  );
}
