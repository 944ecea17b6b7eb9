/**
 * Desired state vs observed state (SPEC section 10; nomad's DesiredStatus and ClientStatus).
 *
 * The server keeps what the user wants (`Desired`); the runner reports what it sees
 * (`Reported`, null until it has reported the instance); the status of seed 002 is read from
 * both by `instanceStatus()`, the only place that decides it.
 */

/** The status of seed 002, as the API shows it. */
export const INSTANCE_STATUSES = [
  'SCHEDULING',
  'SCHEDULED',
  'STARTING',
  'RUNNING',
  'CRASHED',
  'FAILED',
  'STOPPING',
  'STOPPED',
  'DESTROYING',
  'TERMINATED',
] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

/** What the user wants: PATCH sets RUNNING or STOPPED, DELETE sets DESTROYED. */
export type Desired = 'RUNNING' | 'STOPPED' | 'DESTROYED';

/** What a runner may report for an instance it holds. */
export const REPORTED_STATUSES = ['STARTING', 'RUNNING', 'CRASHED', 'FAILED', 'STOPPING', 'STOPPED'] as const;
export type Reported = (typeof REPORTED_STATUSES)[number];

export interface InstanceFacts {
  desired: Desired;
  /** A runner holds (or is to hold) it. */
  placed: boolean;
  /** The runner's last report for this generation; null when it has not reported it (or removed it). */
  reported: Reported | null;
}

/**
 * The one status derivation. A destroyed instance no runner holds is TERMINATED (the only final
 * status); a STOPPED one without a runner is STOPPED (nothing to stop).
 */
export function instanceStatus(f: InstanceFacts): InstanceStatus {
  switch (f.desired) {
    case 'DESTROYED':
      return f.placed ? 'DESTROYING' : 'TERMINATED';
    case 'STOPPED':
      if (!f.placed || f.reported === null) return 'STOPPED';
      switch (f.reported) {
        case 'STOPPED':
        case 'FAILED':
          return 'STOPPED';
        case 'STARTING':
        case 'RUNNING':
        case 'CRASHED':
        case 'STOPPING':
          return 'STOPPING';
      }
      break;
    case 'RUNNING':
      if (!f.placed) return 'SCHEDULING';
      if (f.reported === null) return 'SCHEDULED';
      switch (f.reported) {
        case 'STARTING':
        case 'RUNNING':
        case 'CRASHED':
        case 'FAILED':
          return f.reported;
        // Still stopped from before: the runner has not yet acted on the new desired state.
        case 'STOPPING':
        case 'STOPPED':
          return 'STARTING';
      }
  }
}

/** Statuses after which an instance holds none of its runner's resources (SPEC section 10). */
export function holdsResources(status: InstanceStatus): boolean {
  return status !== 'TERMINATED' && status !== 'FAILED' && status !== 'SCHEDULING';
}

export function isFinal(status: InstanceStatus): boolean {
  return status === 'TERMINATED';
}
