import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Patch, Put, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentCaller } from '../auth/caller.decorator';
import { RequireScope } from '../auth/require-scope.decorator';
import type { Caller } from '../auth/scopes';
import { ApiErrors } from '../common/api-errors';
import type { Page } from '../common/pagination';
import { mapWorkload, PatchWorkloadRequest, PutWorkloadRequest, WorkloadListQuery, WorkloadPage, WorkloadResponse } from './workload.dto';
import { WorkloadService } from './workload.service';

/** Workloads (SPEC section 10, seed 002's `/workload`): templates instances are made from. */
@ApiTags('workloads')
@Controller('workloads')
export class WorkloadController {
  constructor(private readonly workloads: WorkloadService) {}

  @Get()
  @RequireScope('read')
  @ApiOperation({ summary: 'List workloads, oldest first; ?limit with ?cursor or ?offset, ?type' })
  @ApiOkResponse({ type: WorkloadPage })
  @ApiErrors(400, 401, 403)
  list(@Query() query: WorkloadListQuery): Promise<Page<WorkloadResponse>> {
    return this.workloads.list(query);
  }

  @Get(':id')
  @RequireScope('read')
  @ApiOperation({ summary: 'One workload' })
  @ApiOkResponse({ type: WorkloadResponse })
  @ApiErrors(401, 403, 404)
  async get(@Param('id') id: string): Promise<WorkloadResponse> {
    return mapWorkload(await this.workloads.get(id));
  }

  @Put()
  @HttpCode(HttpStatus.CREATED)
  @RequireScope('write')
  @ApiOperation({ summary: 'Create a workload (201); a taken name is 409' })
  @ApiCreatedResponse({ type: WorkloadResponse })
  @ApiErrors(400, 401, 403, 409)
  async create(@Body() body: PutWorkloadRequest, @CurrentCaller() caller: Caller): Promise<WorkloadResponse> {
    return mapWorkload(await this.workloads.create(body, caller));
  }

  @Patch(':id')
  @RequireScope('write')
  @ApiOperation({ summary: 'Change fields of a workload; instances already made keep their own copy' })
  @ApiOkResponse({ type: WorkloadResponse })
  @ApiErrors(400, 401, 403, 404, 409)
  async change(@Param('id') id: string, @Body() body: PatchWorkloadRequest, @CurrentCaller() caller: Caller): Promise<WorkloadResponse> {
    return mapWorkload(await this.workloads.change(id, body, caller));
  }

  @Delete(':id')
  @HttpCode(HttpStatus.OK)
  @RequireScope('write')
  @ApiOperation({ summary: 'Delete a workload and return it; 409 while instances made from it are not TERMINATED' })
  @ApiOkResponse({ type: WorkloadResponse })
  @ApiErrors(401, 403, 404, 409)
  async delete(@Param('id') id: string, @CurrentCaller() caller: Caller): Promise<WorkloadResponse> {
    return mapWorkload(await this.workloads.delete(id, caller));
  }
}
