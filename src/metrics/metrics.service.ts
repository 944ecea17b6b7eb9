import { Injectable } from '@nestjs/common';
import { monitorEventLoopDelay } from 'node:perf_hooks';

type Labels = Record<string, string>;

/** Dispatch latency buckets in seconds: from a few milliseconds (long poll) to minutes (queueing). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

function key(labels: Labels): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

/**
 * This process's counters, in Prometheus text format. Counters are per process (Prometheus sums
 * them across instances); gauges that describe shared state (queue depth, runners by state) are
 * read from the database at scrape time by MetricsController.
 */
@Injectable()
export class MetricsService {
  private readonly counters = new Map<string, { help: string; values: Map<string, number> }>();
  private readonly latency = { buckets: new Array<number>(LATENCY_BUCKETS.length).fill(0), sum: 0, count: 0 };
  /** How late the event loop ran timers, sampled every 10 ms; reset at every scrape. */
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });

  constructor() {
    this.define('pulse_heartbeats_total', 'Heartbeats answered');
    this.define('pulse_dispatches_total', 'Runs handed to runners (first offers, not re-offers)');
    this.define('pulse_log_bytes_total', 'Log bytes received from runners');
    this.define('pulse_sweeps_total', 'Runs and runners changed by sweeps, by reason');
    this.define('pulse_retention_deleted_total', 'Run logs pruned, runs and batches deleted by retention');
    this.define('pulse_retention_seconds_total', 'Seconds spent in retention statements (time a database connection was busy pruning)');
    this.define('pulse_rate_limited_total', 'Runner requests refused with 429');
    this.loopDelay.enable();
  }

  private define(name: string, help: string): void {
    this.counters.set(name, { help, values: new Map() });
  }

  inc(name: string, by = 1, labels: Labels = {}): void {
    const counter = this.counters.get(name);
    if (!counter || by === 0) return;
    const k = key(labels);
    counter.values.set(k, (counter.values.get(k) ?? 0) + by);
  }

  /** A counter's current value in this process (0 when never counted). */
  value(name: string, labels: Labels = {}): number {
    return this.counters.get(name)?.values.get(key(labels)) ?? 0;
  }

  /** Seconds from a run's submission to its hand-out to a runner. */
  observeDispatchLatency(seconds: number): void {
    this.inc('pulse_dispatches_total');
    const value = Math.max(0, seconds);
    LATENCY_BUCKETS.forEach((bound, i) => {
      if (value <= bound) this.latency.buckets[i]++;
    });
    this.latency.sum += value;
    this.latency.count++;
  }

  /** The counters and the histogram; `gauges` are appended as given. */
  render(gauges: Array<{ name: string; help: string; samples: Array<{ labels: Labels; value: number }> }>): string {
    const lines: string[] = [];
    for (const [name, { help, values }] of this.counters) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
      if (values.size === 0) lines.push(`${name} 0`);
      for (const [k, v] of values) lines.push(k ? `${name}{${k}} ${v}` : `${name} ${v}`);
    }
    const h = 'pulse_dispatch_latency_seconds';
    lines.push(`# HELP ${h} Seconds from submission to hand-out to a runner`, `# TYPE ${h} histogram`);
    LATENCY_BUCKETS.forEach((bound, i) => lines.push(`${h}_bucket{le="${bound}"} ${this.latency.buckets[i]}`));
    lines.push(`${h}_bucket{le="+Inf"} ${this.latency.count}`, `${h}_sum ${this.latency.sum}`, `${h}_count ${this.latency.count}`);
    const d = this.loopDelay;
    const lag = 'pulse_event_loop_delay_seconds';
    lines.push(`# HELP ${lag} How late this process's event loop ran, since the previous scrape`, `# TYPE ${lag} gauge`);
    for (const [q, v] of [['0.5', d.percentile(50)], ['0.99', d.percentile(99)], ['1', d.max]] as const) {
      lines.push(`${lag}{quantile="${q}"} ${d.count > 0 ? v / 1e9 : 0}`);
    }
    d.reset();
    for (const gauge of gauges) {
      lines.push(`# HELP ${gauge.name} ${gauge.help}`, `# TYPE ${gauge.name} gauge`);
      for (const s of gauge.samples) {
        const k = key(s.labels);
        lines.push(k ? `${gauge.name}{${k}} ${s.value}` : `${gauge.name} ${s.value}`);
      }
    }
    return lines.join('\n') + '\n';
  }
}
