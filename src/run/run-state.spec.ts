import { canTransition, FINAL_STATES, isFinal, RUN_STATES, RunState } from './run-state';

describe('run state machine', () => {
  const allowed: Array<[RunState, RunState]> = [
    [RunState.Waiting, RunState.Running],
    [RunState.Waiting, RunState.Canceled],
    [RunState.Running, RunState.Finished],
    [RunState.Running, RunState.Failed],
    [RunState.Running, RunState.Timeout],
    [RunState.Running, RunState.Canceled],
    [RunState.Running, RunState.Waiting],
  ];

  it.each(RUN_STATES.flatMap((from) => RUN_STATES.map((to) => [from, to] as [RunState, RunState])))(
    '%s → %s follows the spec',
    (from, to) => {
      const expected = allowed.some(([a, b]) => a === from && b === to);
      expect(canTransition(from, to)).toBe(expected);
    },
  );

  it('final states never change', () => {
    for (const s of FINAL_STATES) {
      expect(isFinal(s)).toBe(true);
      for (const to of RUN_STATES) expect(canTransition(s, to)).toBe(false);
    }
    expect(isFinal(RunState.Waiting)).toBe(false);
    expect(isFinal(RunState.Running)).toBe(false);
  });
});
