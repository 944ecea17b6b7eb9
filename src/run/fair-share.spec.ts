import { allocate } from './fair-share';
import type { CandidateQueue } from './run.repository';

function queue(namespace: string, running: number, runs: Array<[priority: number, seq: number]>): CandidateQueue {
  return { namespace, running, priorities: runs.map((r) => r[0]), seqs: runs.map((r) => r[1]) };
}

describe('allocate: a batch of claims makes the choices of claims one after another', () => {
  it('takes everything from the only namespace, up to what waits', () => {
    expect(allocate([queue('a', 0, [[0, 1], [0, 2], [0, 3]])], 2)).toEqual([{ namespace: 'a', count: 2 }]);
    expect(allocate([queue('a', 0, [[0, 1]])], 5)).toEqual([{ namespace: 'a', count: 1 }]);
    expect(allocate([], 5)).toEqual([]);
  });

  it('fair share: the namespace with fewer running runs first, then turns', () => {
    const a = queue('a', 3, [[0, 1], [0, 2], [0, 3], [0, 4]]);
    const b = queue('b', 0, [[0, 10], [0, 11], [0, 12], [0, 13], [0, 14]]);
    // b has 3 fewer running: it takes the first 3, then they alternate (ties go to the older run).
    expect(allocate([a, b], 7)).toEqual([
      { namespace: 'b', count: 5 },
      { namespace: 'a', count: 2 },
    ]);
  });

  it('priority before fair share, run by run: a namespace whose next run is less urgent waits', () => {
    const a = queue('a', 0, [[10, 1], [0, 2], [0, 3]]);
    const b = queue('b', 5, [[5, 4], [5, 5]]);
    // a's priority-10 run first, then b's two priority-5 runs, though b runs more already.
    expect(allocate([a, b], 3)).toEqual([
      { namespace: 'a', count: 1 },
      { namespace: 'b', count: 2 },
    ]);
  });

  it('ties on priority and running go to the oldest run', () => {
    const a = queue('a', 1, [[0, 9]]);
    const b = queue('b', 1, [[0, 3]]);
    expect(allocate([a, b], 1)).toEqual([{ namespace: 'b', count: 1 }]);
  });
});
