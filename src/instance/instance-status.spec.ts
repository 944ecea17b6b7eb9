import { type Desired, instanceStatus, type InstanceStatus, type Reported } from './instance-status';

describe('instanceStatus', () => {
  const table: Array<[Desired, boolean, Reported | null, InstanceStatus]> = [
    // desired, placed, reported → status
    ['RUNNING', false, null, 'SCHEDULING'],
    ['RUNNING', true, null, 'SCHEDULED'],
    ['RUNNING', true, 'STARTING', 'STARTING'],
    ['RUNNING', true, 'RUNNING', 'RUNNING'],
    ['RUNNING', true, 'CRASHED', 'CRASHED'],
    ['RUNNING', true, 'FAILED', 'FAILED'],
    ['RUNNING', true, 'STOPPING', 'STARTING'],
    ['RUNNING', true, 'STOPPED', 'STARTING'],
    ['STOPPED', false, null, 'STOPPED'],
    ['STOPPED', true, null, 'STOPPED'],
    ['STOPPED', true, 'STARTING', 'STOPPING'],
    ['STOPPED', true, 'RUNNING', 'STOPPING'],
    ['STOPPED', true, 'CRASHED', 'STOPPING'],
    ['STOPPED', true, 'STOPPING', 'STOPPING'],
    ['STOPPED', true, 'STOPPED', 'STOPPED'],
    ['STOPPED', true, 'FAILED', 'STOPPED'],
    ['DESTROYED', true, 'RUNNING', 'DESTROYING'],
    ['DESTROYED', true, null, 'DESTROYING'],
    ['DESTROYED', true, 'STOPPED', 'DESTROYING'],
    ['DESTROYED', false, null, 'TERMINATED'],
    ['DESTROYED', false, 'RUNNING', 'TERMINATED'],
  ];

  it.each(table)('desired %s, placed %s, reported %s → %s', (desired, placed, reported, expected) => {
    expect(instanceStatus({ desired, placed, reported })).toBe(expected);
  });
});
