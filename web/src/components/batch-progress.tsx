import type { JSX } from 'preact';
import type { BatchResponse } from '../api';

const ORDER = ['finished', 'failed', 'timeout', 'canceled', 'running', 'waiting'] as const;

export function batchCounts(b: BatchResponse): { total: number; done: number; by: Record<string, number> } {
  const by: Record<string, number> = {
    waiting: b.run_waiting.length,
    running: b.run_running.length,
    finished: b.run_finished.length,
    failed: b.run_failed.length,
    canceled: b.run_canceled.length,
    timeout: b.run_timeout.length,
  };
  const total = Object.values(by).reduce((a, n) => a + n, 0);
  return { total, done: total - by.waiting - by.running, by };
}

/** A stacked bar of the batch's runs by state, and "done of total". */
export function BatchProgress({ batch }: { batch: BatchResponse }): JSX.Element {
  const { total, done, by } = batchCounts(batch);
  return (
    <div class="progress-wrap">
      <div class="progress" role="progressbar" aria-label="Batch progress" aria-valuemin={0} aria-valuemax={total} aria-valuenow={done}>
        {ORDER.map((s) => (by[s] > 0 ? <span key={s} class={`bar bar-${s}`} style={{ width: `${(100 * by[s]) / total}%` }} title={`${by[s]} ${s}`} /> : null))}
      </div>
      <span class="small">
        {done} / {total} done
      </span>
    </div>
  );
}
