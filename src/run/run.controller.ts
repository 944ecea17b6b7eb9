import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Inject,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Res,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiCreatedResponse,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { BatchResponse } from '../batch/batch.dto';
import { BatchService } from '../batch/batch.service';
import { CurrentCaller } from '../auth/caller.decorator';
import { RequireScope } from '../auth/require-scope.decorator';
import type { Caller } from '../auth/scopes';
import { ApiErrors } from '../common/api-errors';
import { Gone, InvalidInput } from '../common/errors';
import { Page } from '../common/pagination';
import { SseStream } from '../common/sse';
import type { PulseConfig } from '../config/config';
import { PULSE_CONFIG } from '../config/config.module';
import { EventCursorInterceptor } from '../event/event-cursor.interceptor';
import { followLog, sendStreaming } from './log-follow';
import { streamLogEvents } from './log-sse';
import { LogService } from './log.service';
import {
  LogQuery,
  RunDetail,
  RunListQuery,
  RunListResponse,
  RunSummary,
  SubmitRunsRequest,
  SubmitRunsResponse,
} from './run.dto';
import type { RunState } from './run-state';
import { RunService } from './run.service';

@ApiTags('runs')
@Controller('runs')
export class RunController {
  constructor(
    private readonly runs: RunService,
    private readonly logs: LogService,
    @Inject(PULSE_CONFIG) private readonly config: PulseConfig,
  ) {}

  @Post()
  @RequireScope('write')
  @ApiOperation({
    summary: 'Submit runs: one per job, else per repo, else per repository of the namespace',
  })
  @ApiCreatedResponse({ type: SubmitRunsResponse })
  @ApiErrors(400, 401, 404, 413)
  submit(@Body() body: SubmitRunsRequest, @CurrentCaller() caller: Caller): Promise<SubmitRunsResponse> {
    return this.runs.submit(body, caller);
  }

  @Get()
  @RequireScope('read')
  @UseInterceptors(EventCursorInterceptor)
  @ApiOperation({ summary: 'List runs, newest first' })
  @ApiOkResponse({ type: RunListResponse })
  @ApiErrors(400, 401)
  list(@Query() query: RunListQuery, @CurrentCaller() caller: Caller): Promise<Page<RunSummary>> {
    return this.runs.list(query, caller);
  }

  @Get(':id')
  @RequireScope('read')
  @ApiOperation({ summary: 'One run (env values hidden, never the lease id)' })
  @ApiOkResponse({ type: RunDetail })
  @ApiErrors(400, 401, 404)
  get(@Param('id', new ParseUUIDPipe()) id: string, @CurrentCaller() caller: Caller): Promise<RunDetail> {
    return this.runs.get(id, caller);
  }

  @Delete(':id')
  @RequireScope('write')
  @ApiOperation({
    summary: 'Cancel a run: waiting → canceled at once; running → its runner is told to stop',
  })
  @ApiOkResponse({ type: RunDetail })
  @ApiErrors(400, 401, 404, 409)
  cancel(@Param('id', new ParseUUIDPipe()) id: string, @CurrentCaller() caller: Caller): Promise<RunDetail> {
    return this.runs.cancel(id, caller);
  }

  @Get(':id/logs')
  @RequireScope('read')
  @ApiOperation({
    summary: 'The log as text/plain; ?offset=n from byte n; ?follow=1 streams until the run is final',
    description:
      'With `?follow=1` and `Accept: text/event-stream`: Server-Sent Events, `event: log` frames (`id: <end offset>`, ' +
      '`data: {"offset": <start offset>, "text": "..."}`, split at character boundaries), then `event: end` ' +
      '(`data: {"state": "<final state>"}`) and the stream closes. `Last-Event-ID` resumes at that byte offset.',
  })
  @ApiProduces('text/plain', 'text/event-stream')
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'SSE follow only: resume at this byte offset' })
  @ApiOkResponse({ description: 'The log bytes (or, as SSE, log frames then an end frame)', schema: { type: 'string' } })
  @ApiErrors(400, 401, 404, 410)
  async log(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Query() query: LogQuery,
    @Headers('accept') accept: string | undefined,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
    @CurrentCaller() caller: Caller,
  ): Promise<void> {
    const follow = query.follow === '1' || query.follow === 'true';
    const sse = follow && (accept ?? '').includes('text/event-stream');
    let resume: number | undefined;
    if (sse && lastEventId !== undefined && lastEventId.trim() !== '') {
      if (!/^\d{1,15}$/.test(lastEventId.trim())) throw new InvalidInput('Last-Event-ID must be a byte offset (a whole number)');
      resume = Number(lastEventId.trim());
    }
    const run = await this.runs.mustFind(id, caller);
    if (run.logs_pruned) {
      throw new Gone(`the log of run ${id} was dropped: the run became final longer ago than LOG_RETENTION_DAYS`);
    }
    const from = resume ?? query.offset ?? 0;
    const stateOf = async (): Promise<RunState> => (await this.runs.mustFind(id, caller)).state;
    if (sse) {
      const stream = new SseStream({ keepAliveMs: this.config.eventsKeepAlive * 1000, drainTimeoutMs: 10000 });
      stream.open(reply);
      await streamLogEvents(stream, this.logs, run.id, from, stateOf, this.logs.shutdownSignal).catch(() => undefined);
      return;
    }
    const headers = {
      'content-type': 'text/plain; charset=utf-8',
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    };
    if (follow) {
      sendStreaming(reply, headers, (gone) =>
        followLog(this.logs, run.id, from, stateOf, AbortSignal.any([gone, this.logs.shutdownSignal])),
      );
      return;
    }
    void reply.headers(headers).send(await this.logs.read(run.id, from));
  }
}

/** `DELETE /api/batches/{id}`: canceling is run logic, so it lives here, beside the run routes. */
@ApiTags('batches')
@Controller('batches')
export class BatchCancelController {
  constructor(
    private readonly runs: RunService,
    private readonly batches: BatchService,
  ) {}

  @Delete(':id')
  @HttpCode(200)
  @RequireScope('write')
  @ApiOperation({ summary: 'Cancel every run of the batch that is not final; returns the batch' })
  @ApiOkResponse({ type: BatchResponse })
  @ApiErrors(400, 401, 404)
  async cancel(@Param('id', new ParseUUIDPipe()) id: string, @CurrentCaller() caller: Caller): Promise<BatchResponse> {
    await this.runs.cancelBatch(id, caller);
    return this.batches.get(id, caller);
  }
}
