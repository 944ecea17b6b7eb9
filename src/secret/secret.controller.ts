import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Param, Put, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentCaller } from '../auth/caller.decorator';
import { RequireScope } from '../auth/require-scope.decorator';
import type { Caller } from '../auth/scopes';
import { ApiErrors } from '../common/api-errors';
import { mapSecret, PutSecretRequest, SecretResponse } from './secret.dto';
import { SecretService } from './secret.service';

/** A namespace's secrets: write-only (no route returns a value, ever). */
@ApiTags('secrets')
@Controller('namespaces/:name/secrets')
export class SecretController {
  constructor(private readonly secrets: SecretService) {}

  @Get()
  @RequireScope('read')
  @ApiOperation({ summary: "List a namespace's secrets: names and dates, never values (not paginated)" })
  @ApiOkResponse({ type: [SecretResponse] })
  @ApiErrors(401, 403, 404)
  async list(@Param('name') namespace: string, @CurrentCaller() caller: Caller): Promise<SecretResponse[]> {
    return (await this.secrets.list(namespace, caller)).map(mapSecret);
  }

  @Put(':secret')
  @RequireScope('write')
  @ApiOperation({
    summary: 'Create (201) or replace (200) a secret',
    description:
      'The name is an environment variable name; the value is 8 to 65,536 bytes, not only whitespace. It is ' +
      'stored encrypted (AES-256-GCM), delivered only inside the assignment of a run that names it, and masked in logs.',
  })
  @ApiCreatedResponse({ type: SecretResponse, description: 'Created' })
  @ApiOkResponse({ type: SecretResponse, description: 'Replaced (created_at kept)' })
  @ApiErrors(400, 401, 403, 404, 413)
  async put(
    @Param('name') namespace: string,
    @Param('secret') name: string,
    @Body() body: PutSecretRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
    @CurrentCaller() caller: Caller,
  ): Promise<SecretResponse> {
    const { secret, created } = await this.secrets.put(namespace, name, body.value, caller);
    reply.status(created ? HttpStatus.CREATED : HttpStatus.OK);
    return mapSecret(secret);
  }

  @Delete(':secret')
  @HttpCode(HttpStatus.NO_CONTENT)
  @RequireScope('write')
  @ApiOperation({ summary: 'Delete a secret; a waiting run that names it fails when it is dispatched' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiErrors(401, 403, 404)
  async delete(@Param('name') namespace: string, @Param('secret') name: string, @CurrentCaller() caller: Caller): Promise<void> {
    await this.secrets.delete(namespace, name, caller);
  }
}
