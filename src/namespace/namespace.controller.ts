import { Body, Controller, Delete, Get, HttpStatus, Param, Put, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { AdminAuthGuard } from '../common/admin-auth.guard';
import { ApiErrors } from '../common/api-errors';
import { mapNamespace, NamespaceResponse, PutNamespaceRequest } from './namespace.dto';
import { NamespaceService } from './namespace.service';

@ApiTags('namespaces')
@ApiBearerAuth('admin')
@UseGuards(AdminAuthGuard)
@Controller('namespaces')
export class NamespaceController {
  constructor(private readonly namespaces: NamespaceService) {}

  @Get()
  @ApiOperation({ summary: 'List namespaces' })
  @ApiOkResponse({ type: [NamespaceResponse] })
  @ApiErrors(401)
  async list(): Promise<NamespaceResponse[]> {
    return (await this.namespaces.list()).map(mapNamespace);
  }

  @Get(':name')
  @ApiOperation({ summary: 'Get one namespace' })
  @ApiOkResponse({ type: NamespaceResponse })
  @ApiErrors(401, 404)
  async get(@Param('name') name: string): Promise<NamespaceResponse> {
    return mapNamespace(await this.namespaces.get(name));
  }

  @Put()
  @ApiOperation({ summary: 'Create (201) or replace (200) a namespace' })
  @ApiCreatedResponse({ type: NamespaceResponse, description: 'Created' })
  @ApiOkResponse({ type: NamespaceResponse, description: 'Replaced' })
  @ApiErrors(400, 401, 413)
  async put(
    @Body() body: PutNamespaceRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<NamespaceResponse> {
    const { namespace, created } = await this.namespaces.put(body.namespace_name, body.repositories);
    reply.status(created ? HttpStatus.CREATED : HttpStatus.OK);
    return mapNamespace(namespace);
  }

  @Delete(':name')
  @ApiOperation({ summary: 'Delete a namespace and return it; 409 while it has runs that are not final' })
  @ApiOkResponse({ type: NamespaceResponse })
  @ApiErrors(401, 404, 409)
  async delete(@Param('name') name: string): Promise<NamespaceResponse> {
    return mapNamespace(await this.namespaces.delete(name));
  }
}
