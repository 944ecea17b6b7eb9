import { Body, Controller, Delete, HttpCode, Param, ParseUUIDPipe, Post, Req, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { ApiErrors } from '../common/api-errors';
import { Forbidden } from '../common/errors';
import { MetricsService } from '../metrics/metrics.service';
import { LogService } from '../run/log.service';
import { ResultService } from '../run/result.service';
import { HeartbeatService } from './heartbeat.service';
import { CurrentRunner, RunnerAuthGuard } from './runner-auth.guard';
import {
  CompleteRequest,
  CompleteResponse,
  DeregistrationRequest,
  HeartbeatBody,
  HeartbeatRequest,
  HeartbeatResponse,
  RegistrationRequest,
  RegistrationResponse,
  UpdateRequest,
  UpdateResponse,
} from './runner.dto';
import type { AuthenticatedRunner } from './runner-cache';
import { RunnerCache } from './runner-cache';
import { RunnerTokenService } from './runner-token.service';
import { RunnerService } from './runner.service';

/** The caller must be the runner its token belongs to (SPEC section 2: 403 otherwise). */
function sameRunner(runner: AuthenticatedRunner, id: string): void {
  if (runner.id !== id) throw new Forbidden();
}

/**
 * The runner protocol (SPEC section 2, docs/protocol.md). A runner's whole life:
 *
 *   register ─▶ heartbeat (ready, wait) ─▶ … ─▶ heartbeat answers with `run` (a lease: messageId)
 *            ─▶ update (offset 0: acknowledges) ─▶ update … (log bytes at offsets)
 *            ─▶ complete/{runnerId}/{batch} ─▶ heartbeat (ready) …  ─▶ DELETE registration
 *
 * Work reaches a runner only inside a heartbeat response. Every call about a run carries its
 * messageId; an older one is refused with 409 (the run was given to someone else). Log bytes are
 * appended at byte offsets, so a re-send is stored once and a gap answers 416 with expectedOffset.
 */
@ApiTags('runner protocol')
@Controller('runner')
export class RunnerProtocolController {
  constructor(
    private readonly runners: RunnerService,
    private readonly heartbeats: HeartbeatService,
    private readonly logs: LogService,
    private readonly results: ResultService,
    private readonly metrics: MetricsService,
    private readonly cache: RunnerCache,
    private readonly tokens: RunnerTokenService,
  ) {}

  @Post('registration')
  @ApiOperation({
    summary: 'Register a runner with a registration token (pulse_reg_… or RUNNER_REGISTRATION_TOKEN) in the body; the runner token is shown once',
    security: [],
  })
  @ApiCreatedResponse({ type: RegistrationResponse })
  @ApiErrors(400, 401, 413, 429)
  register(@Body() body: RegistrationRequest, @Req() request: FastifyRequest): Promise<RegistrationResponse> {
    return this.runners.register(body, request.ip ?? null);
  }

  @Delete('registration')
  @HttpCode(200)
  @UseGuards(RunnerAuthGuard)
  @ApiBearerAuth('runner')
  @ApiOperation({ summary: 'Deregister: the runner is blacklisted for good; its run goes back to the queue' })
  @ApiOkResponse({ description: 'Empty body' })
  @ApiErrors(400, 401, 403, 429)
  async deregister(
    @Body() body: DeregistrationRequest,
    @CurrentRunner() runner: AuthenticatedRunner,
    @Req() request: FastifyRequest,
  ): Promise<void> {
    sameRunner(runner, body.id);
    await this.runners.deregister(runner.id, { type: 'runner', id: runner.id, name: null, ip: request.ip ?? null });
  }

  @Post('heartbeat')
  @HttpCode(200)
  @UseGuards(RunnerAuthGuard)
  @ApiBearerAuth('runner')
  @ApiOperation({
    summary: 'Heartbeat: renews leases, hands out work (`run`), lists runs to stop (`cancel`); long poll with `wait`',
  })
  @ApiOkResponse({ type: HeartbeatResponse })
  @ApiErrors(400, 401, 403, 429, 503)
  async heartbeat(
    @Body() body: HeartbeatRequest,
    @CurrentRunner() runner: AuthenticatedRunner,
    @Req() request: FastifyRequest,
  ): Promise<HeartbeatResponse> {
    sameRunner(runner, body.id);
    const heartbeat: HeartbeatBody = await this.heartbeats.beat(runner.id, body, () => request.ip ?? null);
    // In the last quarter of its token's life (one comparison otherwise): a fresh offer each time.
    if (runner.offerFrom <= Date.now()) heartbeat.token = await this.tokens.offer(runner.id);
    return { heartbeat };
  }

  @Post('runs/:runId/update')
  @HttpCode(200)
  @UseGuards(RunnerAuthGuard)
  @ApiBearerAuth('runner')
  @ApiOperation({ summary: 'Append log bytes at `offset`; the first update (even empty) acknowledges the run' })
  @ApiOkResponse({ type: UpdateResponse })
  @ApiErrors(400, 401, 403, 404, 409, 413, 416, 429, 503)
  update(
    @Param('runId', new ParseUUIDPipe()) runId: string,
    @Body() body: UpdateRequest,
    @CurrentRunner() runner: AuthenticatedRunner,
  ): Promise<UpdateResponse> {
    this.metrics.inc('pulse_log_bytes_total', Buffer.byteLength(body.logs));
    return this.logs.append(runner.id, runId, body.messageId, body.offset, body.logs);
  }

  @Post('complete/:runnerId/:projectId')
  @HttpCode(200)
  @UseGuards(RunnerAuthGuard)
  @ApiBearerAuth('runner')
  @ApiOperation({ summary: 'Upload the result; idempotent for the same messageId and result' })
  @ApiOkResponse({ type: CompleteResponse })
  @ApiErrors(400, 401, 403, 404, 409, 416, 429, 503)
  async complete(
    @Param('runnerId', new ParseUUIDPipe()) runnerId: string,
    @Param('projectId', new ParseUUIDPipe()) projectId: string,
    @Body() body: CompleteRequest,
    @CurrentRunner() runner: AuthenticatedRunner,
  ): Promise<CompleteResponse> {
    sameRunner(runner, runnerId);
    await this.results.complete(runner.id, projectId, body.messageId, body.result);
    // It holds nothing now (one run per runner): its next heartbeat need not look.
    this.cache.setHolding(runner.id, false);
    return { status: 'OK' };
  }
}
