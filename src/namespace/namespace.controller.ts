import { Body, Controller, Delete, Get, HttpStatus, Param, Put, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentCaller } from '../auth/caller.decorator';
import { RequireScope } from '../auth/require-scope.decorator';
import type { Caller } from '../auth/scopes';
import { ApiErrors } from '../common/api-errors';
import { mapNamespace, NamespaceResponse, PutNamespaceRequest } from './namespace.dto';
import { NamespaceService } from './namespace.service';

@ApiTags('namespaces')
@Controller('namespaces')
export class NamespaceController {
  constructor(private readonly namespaces: NamespaceService) {}

  @Get()
  @RequireScope('read')
  @ApiOperation({ summary: 'List namespaces' })
  @ApiOkResponse({ type: [NamespaceResponse] })
  @ApiErrors(401)
  async list(@CurrentCaller() caller: Caller): Promise<NamespaceResponse[]> {
    return (await this.namespaces.list(caller)).map(mapNamespace);
  }

  @Get(':name')
  @RequireScope('read')
  @ApiOperation({ summary: 'Get one namespace' })
  @ApiOkResponse({ type: NamespaceResponse })
  @ApiErrors(401, 404)
  async get(@Param('name') name: string, @CurrentCaller() caller: Caller): Promise<NamespaceResponse> {
    return mapNamespace(await this.namespaces.get(name, caller));
  }

  @Put()
  @RequireScope('write')
  @ApiOperation({ summary: 'Create (201) or replace (200) a namespace' })
  @ApiCreatedResponse({ type: NamespaceResponse, description: 'Created' })
  @ApiOkResponse({ type: NamespaceResponse, description: 'Replaced' })
  @ApiErrors(400, 401, 413)
  async put(
    @Body() body: PutNamespaceRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @CurrentCaller() caller: Caller,
  ): Promise<NamespaceResponse> {
    const { namespace, created } = await this.namespaces.put(body.namespace_name, body.repositories, caller);
    reply.status(created ? HttpStatus.CREATED : HttpStatus.OK);
    return mapNamespace(namespace);
  }

  @Delete(':name')
  @RequireScope('write')
  @ApiOperation({ summary: 'Delete a namespace and return it; 409 while it has runs that are not final' })
  @ApiOkResponse({ type: NamespaceResponse })
  @ApiErrors(401, 404, 409)
  async delete(@Param('name') name: string, @CurrentCaller() caller: Caller): Promise<NamespaceResponse> {
    return mapNamespace(await this.namespaces.delete(name, caller));
  }
}
