import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Patch, Put, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentCaller } from '../auth/caller.decorator';
import { RequireScope } from '../auth/require-scope.decorator';
import type { Caller } from '../auth/scopes';
import { ApiErrors } from '../common/api-errors';
import type { Page } from '../common/pagination';
import { InstanceListQuery, InstancePage, InstanceResponse, mapInstance, PatchInstanceRequest, PutInstanceRequest } from './instance.dto';
import { InstanceService } from './instance.service';

/** Instances (SPEC section 10, seed 002's `/instance`): long-running containers placed on runners. */
@ApiTags('instances')
@Controller('instances')
export class InstanceController {
  constructor(private readonly instances: InstanceService) {}

  @Get()
  @RequireScope('read')
  @ApiOperation({ summary: 'List instances, oldest first; ?limit with ?cursor or ?offset, ?type, ?state (a status), ?runner (the ones it holds)' })
  @ApiOkResponse({ type: InstancePage })
  @ApiErrors(400, 401, 403)
  list(@Query() query: InstanceListQuery): Promise<Page<InstanceResponse>> {
    return this.instances.list(query);
  }

  @Get(':id')
  @RequireScope('read')
  @ApiOperation({ summary: 'One instance: its fields, status, description, runner, address and published ports' })
  @ApiOkResponse({ type: InstanceResponse })
  @ApiErrors(401, 403, 404)
  async get(@Param('id') id: string): Promise<InstanceResponse> {
    return mapInstance(await this.instances.get(id));
  }

  @Put()
  @HttpCode(HttpStatus.CREATED)
  @RequireScope('write')
  @ApiOperation({
    summary: 'Create an instance from a workload (`workload_id`) or inline fields (201)',
    description: 'It starts SCHEDULING and is placed at once when a runner has room (then SCHEDULED); `pending_reason` says why not.',
  })
  @ApiCreatedResponse({ type: InstanceResponse })
  @ApiErrors(400, 401, 403)
  async create(@Body() body: PutInstanceRequest, @CurrentCaller() caller: Caller): Promise<InstanceResponse> {
    return mapInstance(await this.instances.create(body, caller));
  }

  @Patch(':id')
  @RequireScope('write')
  @ApiOperation({
    summary: 'Start or stop (`state`), or change fields',
    description:
      'A changed `uri`, `command` or `environment` makes its runner recreate the container; changed `resources`, `ports` or ' +
      '`labels` place it again. RUNNING on a FAILED instance retries it. 409 once it is being destroyed.',
  })
  @ApiOkResponse({ type: InstanceResponse })
  @ApiErrors(400, 401, 403, 404, 409)
  async change(@Param('id') id: string, @Body() body: PatchInstanceRequest, @CurrentCaller() caller: Caller): Promise<InstanceResponse> {
    return mapInstance(await this.instances.change(id, body, caller));
  }

  @Delete(':id')
  @HttpCode(HttpStatus.ACCEPTED)
  @RequireScope('write')
  @ApiOperation({ summary: 'Destroy (202): DESTROYING, then TERMINATED once its runner removed the container' })
  @ApiAcceptedResponse({ type: InstanceResponse })
  @ApiErrors(401, 403, 404)
  async destroy(@Param('id') id: string, @CurrentCaller() caller: Caller): Promise<InstanceResponse> {
    return mapInstance(await this.instances.destroy(id, caller));
  }
}
