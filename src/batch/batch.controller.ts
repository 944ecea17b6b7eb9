import { Controller, Get, Param, ParseUUIDPipe, Query, UseGuards, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AdminAuthGuard } from '../common/admin-auth.guard';
import { ApiErrors } from '../common/api-errors';
import { Page } from '../common/pagination';
import { EventCursorInterceptor } from '../event/event-cursor.interceptor';
import { BatchListQuery, BatchListResponse, BatchResponse, BatchSummary } from './batch.dto';
import { BatchService } from './batch.service';

/** Reading batches. Canceling one is the run module's (`DELETE /api/batches/{id}`). */
@ApiTags('batches')
@ApiBearerAuth('admin')
@UseGuards(AdminAuthGuard)
@Controller('batches')
export class BatchController {
  constructor(private readonly batches: BatchService) {}

  @Get()
  @UseInterceptors(EventCursorInterceptor)
  @ApiOperation({ summary: 'List batches, newest first' })
  @ApiOkResponse({ type: BatchListResponse })
  @ApiErrors(400, 401)
  list(@Query() query: BatchListQuery): Promise<Page<BatchSummary>> {
    return this.batches.list(query);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One batch with its run ids grouped by state' })
  @ApiOkResponse({ type: BatchResponse })
  @ApiErrors(400, 401, 404)
  get(@Param('id', new ParseUUIDPipe()) id: string): Promise<BatchResponse> {
    return this.batches.get(id);
  }
}
