import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Res,
  UseGuards,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { BatchResponse } from '../batch/batch.dto';
import { BatchService } from '../batch/batch.service';
import { AdminAuthGuard } from '../common/admin-auth.guard';
import { ApiErrors } from '../common/api-errors';
import { Gone } from '../common/errors';
import { Page } from '../common/pagination';
import { followLog, sendStreaming } from './log-follow';
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
@ApiBearerAuth('admin')
@UseGuards(AdminAuthGuard)
@Controller('runs')
export class RunController {
  constructor(
    private readonly runs: RunService,
    private readonly logs: LogService,
  ) {}

  @Post()
  @ApiOperation({
    summary: 'Submit runs: one per job, else per repo, else per repository of the namespace',
  })
  @ApiCreatedResponse({ type: SubmitRunsResponse })
  @ApiErrors(400, 401, 404, 413)
  submit(@Body() body: SubmitRunsRequest): Promise<SubmitRunsResponse> {
    return this.runs.submit(body);
  }

  @Get()
  @ApiOperation({ summary: 'List runs, newest first' })
  @ApiOkResponse({ type: RunListResponse })
  @ApiErrors(400, 401)
  list(@Query() query: RunListQuery): Promise<Page<RunSummary>> {
    return this.runs.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One run (env values hidden, never the lease id)' })
  @ApiOkResponse({ type: RunDetail })
  @ApiErrors(400, 401, 404)
  get(@Param('id', new ParseUUIDPipe()) id: string): Promise<RunDetail> {
    return this.runs.get(id);
  }

  @Delete(':id')
  @ApiOperation({
    summary: 'Cancel a run: waiting → canceled at once; running → its runner is told to stop',
  })
  @ApiOkResponse({ type: RunDetail })
  @ApiErrors(400, 401, 404, 409)
  cancel(@Param('id', new ParseUUIDPipe()) id: string): Promise<RunDetail> {
    return this.runs.cancel(id);
  }

  @Get(':id/logs')
  @ApiOperation({
    summary: 'The log as text/plain; ?offset=n from byte n; ?follow=1 streams until the run is final',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'The log bytes', schema: { type: 'string' } })
  @ApiErrors(400, 401, 404, 410)
  async log(
    @Param('id', new ParseUUIDPipe()) id: string,
    @Query() query: LogQuery,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const run = await this.runs.mustFind(id);
    if (run.logs_pruned) {
      throw new Gone(`the log of run ${id} was dropped: the run became final longer ago than LOG_RETENTION_DAYS`);
    }
    const from = query.offset ?? 0;
    const headers = {
      'content-type': 'text/plain; charset=utf-8',
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    };
    if (query.follow === '1' || query.follow === 'true') {
      const stateOf = async (): Promise<RunState> => (await this.runs.mustFind(id)).state;
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
@ApiBearerAuth('admin')
@UseGuards(AdminAuthGuard)
@Controller('batches')
export class BatchCancelController {
  constructor(
    private readonly runs: RunService,
    private readonly batches: BatchService,
  ) {}

  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel every run of the batch that is not final; returns the batch' })
  @ApiOkResponse({ type: BatchResponse })
  @ApiErrors(400, 401, 404)
  async cancel(@Param('id', new ParseUUIDPipe()) id: string): Promise<BatchResponse> {
    await this.runs.cancelBatch(id);
    return this.batches.get(id);
  }
}
