import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { WorkSignal } from '../database/work-signal';
import { EventFeed } from '../event/event-feed';
import { MetricsService } from './metrics.service';

/** `GET /metrics` (outside the /api prefix, no auth: it holds no secrets), Prometheus text. */
@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly metrics: MetricsService,
    private readonly signal: WorkSignal,
    private readonly feed: EventFeed,
  ) {}

  @Get()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  @Header('cache-control', 'no-store')
  @ApiOperation({
    summary: 'Prometheus metrics: heartbeats, dispatches, dispatch latency, queue depth, runners by state, sweeps',
    security: [],
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ schema: { type: 'string' } })
  async scrape(): Promise<string> {
    const queue: Array<{ namespace: string; n: string }> = await this.db.query(
      `SELECT namespace, count(*) AS n FROM run WHERE state = 'waiting' GROUP BY namespace ORDER BY namespace`,
    );
    const runners: Array<{ state: string; n: string }> = await this.db.query(
      `SELECT CASE WHEN u.deregistered_at IS NOT NULL THEN 'deregistered'
                   WHEN u.state = 'dead' THEN 'dead'
                   WHEN EXISTS (SELECT 1 FROM run r WHERE r.runner_id = u.id AND r.state = 'running') THEN 'running'
                   ELSE 'waiting' END AS state,
              count(*) AS n
       FROM runner u GROUP BY 1`,
    );
    const byState = new Map(runners.map((r) => [r.state, Number(r.n)]));
    return this.metrics.render([
      {
        name: 'pulse_queue_depth',
        help: 'Waiting runs by namespace',
        samples: queue.map((q) => ({ labels: { namespace: q.namespace }, value: Number(q.n) })),
      },
      {
        name: 'pulse_runners',
        help: 'Runners by state',
        samples: ['waiting', 'running', 'dead', 'deregistered'].map((state) => ({
          labels: { state },
          value: byState.get(state) ?? 0,
        })),
      },
      {
        name: 'pulse_long_polls_waiting',
        help: 'Heartbeats held open waiting for work in this process',
        samples: [{ labels: {}, value: this.signal.waiting }],
      },
      {
        name: 'pulse_feed_readers',
        help: 'Event feed streams (GET /api/events) open on this process',
        samples: [{ labels: {}, value: this.feed.readers }],
      },
      {
        name: 'pulse_busy_polls_waiting',
        help: 'Heartbeats of busy runners held open until one of their runs is canceled or times out, in this process',
        samples: [{ labels: {}, value: this.signal.busyWaiting }],
      },
    ]);
  }
}
