import type { CandidateQueue } from './run.repository';

/**
 * How many runs each namespace gives to a batch of `k` claims: the same choices `k` claims one
 * after another would make. Each claim takes the best waiting run by priority, then from the
 * namespace with the fewest running runs (counting the ones this batch already took there: fair
 * share), then the oldest. Namespaces in the order of their first pick.
 */
export function allocate(queues: CandidateQueue[], k: number): Array<{ namespace: string; count: number }> {
  const taken = new Map<CandidateQueue, number>();
  for (let slot = 0; slot < k; slot++) {
    let best: CandidateQueue | undefined;
    let bestTaken = 0;
    for (const q of queues) {
      const t = taken.get(q) ?? 0;
      if (t >= q.priorities.length) continue;
      if (best === undefined || before(q, t, best, bestTaken)) {
        best = q;
        bestTaken = t;
      }
    }
    if (best === undefined) break;
    taken.set(best, bestTaken + 1);
  }
  return [...taken].map(([q, count]) => ({ namespace: q.namespace, count }));
}

/** Is the next run of `a` (having given `ta`) a better pick than the next run of `b`? */
function before(a: CandidateQueue, ta: number, b: CandidateQueue, tb: number): boolean {
  if (a.priorities[ta] !== b.priorities[tb]) return a.priorities[ta] > b.priorities[tb];
  if (a.running + ta !== b.running + tb) return a.running + ta < b.running + tb;
  return a.seqs[ta] < b.seqs[tb];
}
