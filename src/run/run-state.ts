/**
 * The run state machine (SPEC section 1), in one place.
 *
 *   waiting ──dispatch──▶ running ──result──▶ finished | failed | timeout | canceled
 *      │                    │
 *      └──cancel──▶ canceled└──lease lost, attempts remain──▶ waiting
 *
 * The last four states are final: a final run never changes state again.
 */
export enum RunState {
  /** Queued, waiting for a runner that matches it. */
  Waiting = 'waiting',
  /** Handed to a runner under a lease (`messageId`). */
  Running = 'running',
  /** Stopped by a user. */
  Canceled = 'canceled',
  /** The script exited 0. */
  Finished = 'finished',
  /** Non-zero exit, runner lost with no attempts left, or an error. */
  Failed = 'failed',
  /** Still running `timeout` seconds after it started. */
  Timeout = 'timeout',
}

export const RUN_STATES: readonly RunState[] = Object.values(RunState);

export const FINAL_STATES: readonly RunState[] = [
  RunState.Canceled,
  RunState.Finished,
  RunState.Failed,
  RunState.Timeout,
];

/** States a runner may report in `complete`. */
export type ResultState = RunState.Finished | RunState.Failed | RunState.Timeout | RunState.Canceled;

export function isFinal(state: RunState): boolean {
  switch (state) {
    case RunState.Waiting:
    case RunState.Running:
      return false;
    case RunState.Canceled:
    case RunState.Finished:
    case RunState.Failed:
    case RunState.Timeout:
      return true;
  }
}

/** Every allowed transition; anything else is refused. */
export function canTransition(from: RunState, to: RunState): boolean {
  switch (from) {
    case RunState.Waiting:
      return to === RunState.Running || to === RunState.Canceled;
    case RunState.Running:
      return (
        to === RunState.Finished ||
        to === RunState.Failed ||
        to === RunState.Timeout ||
        to === RunState.Canceled ||
        to === RunState.Waiting
      );
    case RunState.Canceled:
    case RunState.Finished:
    case RunState.Failed:
    case RunState.Timeout:
      return false;
  }
}

/** SQL literal list of the states that are not final, for `state IN (...)`. */
export const ACTIVE_STATES_SQL = `('${RunState.Waiting}', '${RunState.Running}')`;
