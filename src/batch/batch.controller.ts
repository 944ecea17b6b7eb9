import { Controller, Get, Param, ParseUUIDPipe, Query, UseInterceptors } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentCaller } from '../auth/caller.decorator';
import { RequireScope } from '../auth/require-scope.decorator';
import type { Caller } from '../auth/scopes';
import { ApiErrors } from '../common/api-errors';
import { Page } from '../common/pagination';
import { EventCursorInterceptor } from '../event/event-cursor.interceptor';
import { BatchListQuery, BatchListResponse, BatchResponse, BatchSummary } from './batch.dto';
import { BatchService } from './batch.service';

/** Reading batches. Canceling one is the run module's (`DELETE /api/batches/{id}`). */
@ApiTags('batches')
@Controller('batches')
export class BatchController {
  constructor(private readonly batches: BatchService) {}

  @Get()
  @RequireScope('read')
  @UseInterceptors(EventCursorInterceptor)
  @ApiOperation({ summary: 'List batches, newest first' })
  @ApiOkResponse({ type: BatchListResponse })
  @ApiErrors(400, 401)
  list(@Query() query: BatchListQuery, @CurrentCaller() caller: Caller): Promise<Page<BatchSummary>> {
    return this.batches.list(query, caller);
  }

  @Get(':id')
  @RequireScope('read')
  @ApiOperation({ summary: 'One batch with its run ids grouped by state' })
  @ApiOkResponse({ type: BatchResponse })
  @ApiErrors(400, 401, 404)
  get(@Param('id', new ParseUUIDPipe()) id: string, @CurrentCaller() caller: Caller): Promise<BatchResponse> {
    return this.batches.get(id, caller);
  }
}
