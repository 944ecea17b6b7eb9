/** An instance's cells and actions, shared by the instances list, its page and a runner's page. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText, type InstanceResponse } from '../api';
import { instanceActions, portText } from '../instances';
import { useCan } from '../session';
import { Confirm } from './admin';
import { ErrorBox } from './ui';

type Which = 'start' | 'stop' | 'delete';

export interface InstanceActionState {
  /** The instance an action is under way for. */
  busy: string | null;
  error: string | null;
  notice: string | null;
  /** The instance whose Delete waits for a confirmation. */
  deleting: InstanceResponse | null;
  ask: (i: InstanceResponse | null) => void;
  act: (i: InstanceResponse, which: Which) => Promise<void>;
}

const DONE: Record<Which, string> = {
  start: 'asked to run',
  stop: 'asked to stop (its container is kept)',
  delete: 'asked to be destroyed',
};

/**
 * Start (PATCH state RUNNING), Stop (PATCH state STOPPED) and Delete (DELETE) for a page that
 * shows instances; `onDone` reloads it (the feed then carries each status its runner reports).
 */
export function useInstanceActions(onDone: () => void): InstanceActionState {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<InstanceResponse | null>(null);

  const act = async (i: InstanceResponse, which: Which): Promise<void> => {
    setBusy(i.id);
    setError(null);
    setNotice(null);
    try {
      const after =
        which === 'delete' ? await api.destroyInstance(i.id) : await api.changeInstance(i.id, { state: which === 'start' ? 'RUNNING' : 'STOPPED' });
      setNotice(`Instance ${i.name} ${DONE[which]}: now ${after.status}.`);
      setDeleting(null);
      onDone();
    } catch (err) {
      setError(`${which === 'start' ? 'Start' : which === 'stop' ? 'Stop' : 'Delete'} ${i.name}: ${errorText(err)}`);
    } finally {
      setBusy(null);
    }
  };
  return {
    busy,
    error,
    notice,
    deleting,
    ask: (i) => {
      setError(null);
      setNotice(null);
      setDeleting(i);
    },
    act,
  };
}

/**
 * The Start / Stop / Delete buttons an instance's status allows, for a token with `write`
 * (none otherwise). `labelled`: buttons named after the instance (a list's rows).
 */
export function InstanceButtons({ instance: i, state, labelled }: { instance: InstanceResponse; state: InstanceActionState; labelled?: boolean }): JSX.Element | null {
  const can = useCan();
  if (!can('write')) return null;
  const allowed = instanceActions(i);
  const busy = state.busy !== null;
  const name = (verb: string): string | undefined => (labelled ? `${verb} ${i.name}` : undefined);
  return (
    <>
      {allowed.start && (
        <button type="button" disabled={busy} aria-label={name('Start')} onClick={() => void state.act(i, 'start')}>
          Start
        </button>
      )}
      {allowed.stop && (
        <button type="button" disabled={busy} aria-label={name('Stop')} onClick={() => void state.act(i, 'stop')}>
          Stop
        </button>
      )}
      {allowed.delete && (
        <button type="button" class="danger" disabled={busy} aria-label={name('Delete')} onClick={() => state.ask(i)}>
          Delete
        </button>
      )}
    </>
  );
}

/** The confirmation before a Delete: it removes the container for good. */
export function DeleteInstanceConfirm({ state }: { state: InstanceActionState }): JSX.Element | null {
  const i = state.deleting;
  if (!i) return null;
  return (
    <Confirm label="Confirm deletion" yes="Yes, delete" busy={state.busy !== null} onYes={() => void state.act(i, 'delete')} onNo={() => state.ask(null)}>
      Delete instance <strong>{i.name}</strong>? Its runner stops and removes its container (DESTROYING, then TERMINATED). This cannot be
      undone.
    </Confirm>
  );
}

/** What the actions of a page said: the Delete confirmation, the error (else the page's own), the notice. */
export function InstanceActionFeedback({ state, error }: { state: InstanceActionState; error?: string | null }): JSX.Element {
  return (
    <>
      <DeleteInstanceConfirm state={state} />
      <ErrorBox error={state.error ?? error} />
      {state.notice && (
        <p class="notice" role="status">
          {state.notice}
        </p>
      )}
    </>
  );
}

/** Why an instance is where it is: why it waits while SCHEDULING, else the runner's latest words. */
export function InstanceWhy({ instance: i }: { instance: InstanceResponse }): JSX.Element {
  const why = i.status === 'SCHEDULING' && i.pending_reason ? i.pending_reason : i.description;
  return why ? <span data-field="why">{why}</span> : <span class="muted">—</span>;
}

/** Its runner's address and published ports, one per line. */
export function InstancePorts({ instance: i }: { instance: InstanceResponse }): JSX.Element {
  if (!i.ports.length) return <span class="muted">{i.ip ?? '—'}</span>;
  return (
    <div data-field="ports">
      {i.ports.map((p) => (
        <div key={p} class="mono">
          {portText(i.ip, p)}
        </div>
      ))}
    </div>
  );
}
