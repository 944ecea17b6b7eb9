import { Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, UseInterceptors } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentCaller } from '../auth/caller.decorator';
import { RequireScope } from '../auth/require-scope.decorator';
import type { Caller } from '../auth/scopes';
import { ApiErrors } from '../common/api-errors';
import { Page } from '../common/pagination';
import { EventCursorInterceptor } from '../event/event-cursor.interceptor';
import { RunnerDetail, RunnerListQuery, RunnerListResponse, RunnerSummary } from './runner.dto';
import { RunnerTokenService } from './runner-token.service';
import { RunnerService } from './runner.service';

/** Managing runners (SPEC section 3). */
@ApiTags('runners')
@Controller('runners')
export class RunnerController {
  constructor(
    private readonly runners: RunnerService,
    private readonly tokens: RunnerTokenService,
  ) {}

  @Get()
  @RequireScope('read')
  @UseInterceptors(EventCursorInterceptor)
  @ApiOperation({ summary: 'List runners, newest first' })
  @ApiOkResponse({ type: RunnerListResponse })
  @ApiErrors(400, 401)
  list(@Query() query: RunnerListQuery): Promise<Page<RunnerSummary>> {
    return this.runners.list(query);
  }

  @Get(':id')
  @RequireScope('read')
  @ApiOperation({ summary: 'One runner with its facts and its runs, newest first' })
  @ApiOkResponse({ type: RunnerDetail })
  @ApiErrors(400, 401, 404)
  get(@Param('id', new ParseUUIDPipe()) id: string): Promise<RunnerDetail> {
    return this.runners.get(id);
  }

  @Delete(':id')
  @RequireScope('admin')
  @ApiOperation({ summary: 'Deregister (blacklist) a runner; its run goes back to the queue' })
  @ApiOkResponse({ type: RunnerDetail })
  @ApiErrors(400, 401, 404)
  async deregister(@Param('id', new ParseUUIDPipe()) id: string, @CurrentCaller() caller: Caller): Promise<RunnerDetail> {
    await this.runners.deregister(id, caller.actor);
    return this.runners.get(id);
  }

  @Post(':id/enable')
  @HttpCode(200)
  @RequireScope('admin')
  @ApiOperation({ summary: 'Enable a runner: it receives runs again' })
  @ApiOkResponse({ type: RunnerDetail })
  @ApiErrors(400, 401, 404, 409)
  enable(@Param('id', new ParseUUIDPipe()) id: string, @CurrentCaller() caller: Caller): Promise<RunnerDetail> {
    return this.runners.setEnabled(id, true, caller.actor);
  }

  @Post(':id/disable')
  @HttpCode(200)
  @RequireScope('admin')
  @ApiOperation({ summary: 'Disable a runner: it keeps heartbeating but receives no run' })
  @ApiOkResponse({ type: RunnerDetail })
  @ApiErrors(400, 401, 404, 409)
  disable(@Param('id', new ParseUUIDPipe()) id: string, @CurrentCaller() caller: Caller): Promise<RunnerDetail> {
    return this.runners.setEnabled(id, false, caller.actor);
  }

  @Post(':id/rotate-token')
  @HttpCode(200)
  @RequireScope('admin')
  @ApiOperation({ summary: "Rotate the runner's token: its next heartbeat answer offers a new one" })
  @ApiOkResponse({ type: RunnerDetail })
  @ApiErrors(400, 404, 409)
  async rotateToken(@Param('id', new ParseUUIDPipe()) id: string, @CurrentCaller() caller: Caller): Promise<RunnerDetail> {
    await this.tokens.requestRotation(id, caller.actor);
    return this.runners.get(id);
  }
}
