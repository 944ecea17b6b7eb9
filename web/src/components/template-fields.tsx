import type { JSX } from 'preact';
import type { TemplateForm } from '../instances';

/**
 * The fields a workload and an inline instance share (SPEC section 10): image, command,
 * environment, ports, labels, resources. Controlled: the page keeps the values, so an error
 * never loses what was typed. `nameRequired`: a workload needs a name; an instance defaults it.
 */
export function TemplateFields({
  form,
  set,
  nameRequired,
  invalid,
}: {
  form: TemplateForm;
  set: (patch: Partial<TemplateForm>) => void;
  nameRequired: boolean;
  /** The field the last error was about (marked aria-invalid). */
  invalid?: keyof TemplateForm | null;
}): JSX.Element {
  const bad = (f: keyof TemplateForm): boolean | undefined => (invalid === f ? true : undefined);
  return (
    <>
      <div class="row">
        <label>
          Name{nameRequired ? '' : ' (optional)'}
          <input
            value={form.name}
            onInput={(e) => set({ name: e.currentTarget.value })}
            required={nameRequired}
            pattern="[A-Za-z0-9._\-]{1,63}"
            title="1 to 63 letters, digits, '.', '_' or '-'"
            placeholder={nameRequired ? 'web' : 'instance-…'}
            aria-invalid={bad('name')}
          />
        </label>
        <label class="grow">
          Image
          <input
            class="mono"
            value={form.uri}
            onInput={(e) => set({ uri: e.currentTarget.value })}
            required
            placeholder="docker.io/library/busybox:1.36"
            spellcheck={false}
            aria-invalid={bad('uri')}
          />
        </label>
      </div>
      <label>
        Command (optional: one argument per line; replaces the image's default command)
        <textarea
          class="mono"
          rows={4}
          value={form.command}
          onInput={(e) => set({ command: e.currentTarget.value })}
          placeholder={'httpd\n-f\n-p\n8080'}
          spellcheck={false}
          aria-invalid={bad('command')}
        />
      </label>
      <label>
        Environment (NAME=value, one per line)
        <textarea
          class="mono"
          rows={3}
          value={form.environment}
          onInput={(e) => set({ environment: e.currentTarget.value })}
          spellcheck={false}
          aria-invalid={bad('environment')}
        />
      </label>
      <div class="row">
        <label>
          Ports (8080: a host port the engine picks; 9000:8080: host port 9000)
          <input value={form.ports} onInput={(e) => set({ ports: e.currentTarget.value })} placeholder="8080, 9000:80" aria-invalid={bad('ports')} />
        </label>
        <label>
          Labels (comma separated: a runner must carry all of them)
          <input value={form.labels} onInput={(e) => set({ labels: e.currentTarget.value })} placeholder="linux" aria-invalid={bad('labels')} />
        </label>
      </div>
      <fieldset>
        <legend>Resources claimed on the runner (empty: none)</legend>
        <div class="row">
          <label>
            CPU cores
            <input type="number" min={0} step={1} value={form.cpu} onInput={(e) => set({ cpu: e.currentTarget.value })} aria-invalid={bad('cpu')} />
          </label>
          <label>
            Memory (MiB)
            <input type="number" min={0} step={1} value={form.memory} onInput={(e) => set({ memory: e.currentTarget.value })} aria-invalid={bad('memory')} />
          </label>
          <label>
            Disk (MiB)
            <input type="number" min={0} step={1} value={form.disk} onInput={(e) => set({ disk: e.currentTarget.value })} aria-invalid={bad('disk')} />
          </label>
        </div>
      </fieldset>
    </>
  );
}
