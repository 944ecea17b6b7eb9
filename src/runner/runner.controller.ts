import { Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminAuthGuard } from '../common/admin-auth.guard';
import { ApiErrors } from '../common/api-errors';
import { Page } from '../common/pagination';
import { EventCursorInterceptor } from '../event/event-cursor.interceptor';
import { RunnerDetail, RunnerListQuery, RunnerListResponse, RunnerSummary } from './runner.dto';
import { RunnerService } from './runner.service';

/** Managing runners (SPEC section 3). */
@ApiTags('runners')
@ApiBearerAuth('admin')
@UseGuards(AdminAuthGuard)
@Controller('runners')
export class RunnerController {
  constructor(private readonly runners: RunnerService) {}

  @Get()
  @UseInterceptors(EventCursorInterceptor)
  @ApiOperation({ summary: 'List runners, newest first' })
  @ApiOkResponse({ type: RunnerListResponse })
  @ApiErrors(400, 401)
  list(@Query() query: RunnerListQuery): Promise<Page<RunnerSummary>> {
    return this.runners.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One runner with its facts and its runs, newest first' })
  @ApiOkResponse({ type: RunnerDetail })
  @ApiErrors(400, 401, 404)
  get(@Param('id', new ParseUUIDPipe()) id: string): Promise<RunnerDetail> {
    return this.runners.get(id);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Deregister (blacklist) a runner; its run goes back to the queue' })
  @ApiOkResponse({ type: RunnerDetail })
  @ApiErrors(400, 401, 404)
  async deregister(@Param('id', new ParseUUIDPipe()) id: string): Promise<RunnerDetail> {
    await this.runners.deregister(id);
    return this.runners.get(id);
  }

  @Post(':id/enable')
  @HttpCode(200)
  @ApiOperation({ summary: 'Enable a runner: it receives runs again' })
  @ApiOkResponse({ type: RunnerDetail })
  @ApiErrors(400, 401, 404, 409)
  enable(@Param('id', new ParseUUIDPipe()) id: string): Promise<RunnerDetail> {
    return this.runners.setEnabled(id, true);
  }

  @Post(':id/disable')
  @HttpCode(200)
  @ApiOperation({ summary: 'Disable a runner: it keeps heartbeating but receives no run' })
  @ApiOkResponse({ type: RunnerDetail })
  @ApiErrors(400, 401, 404, 409)
  disable(@Param('id', new ParseUUIDPipe()) id: string): Promise<RunnerDetail> {
    return this.runners.setEnabled(id, false);
  }
}
