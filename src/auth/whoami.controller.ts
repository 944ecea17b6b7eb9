import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { CurrentCaller } from './caller.decorator';
import { RequireScope } from './require-scope.decorator';
import { SCOPES } from './scopes';
import type { Caller, Scope } from './scopes';

export class WhoAmIResponse {
  @ApiProperty({ enum: ['token', 'bootstrap'], description: 'An API token, or ADMIN_TOKEN' }) type: 'token' | 'bootstrap';
  @ApiProperty({ type: String, nullable: true, description: "The API token's id" }) id: string | null;
  @ApiProperty({ type: String, nullable: true }) name: string | null;
  @ApiProperty({ enum: SCOPES, isArray: true }) scopes: Scope[];
  @ApiProperty({ type: [String], nullable: true, description: 'null: every namespace' }) namespaces: string[] | null;
}

/** What the caller's token may do: a client (the dashboard) shows only what it allows. */
@ApiTags('tokens')
@Controller('whoami')
export class WhoAmIController {
  @Get()
  @RequireScope('read')
  @ApiOperation({ summary: "The caller's token: its kind, name, scopes and namespaces" })
  @ApiOkResponse({ type: WhoAmIResponse })
  whoami(@CurrentCaller() caller: Caller): WhoAmIResponse {
    return {
      type: caller.actor.type === 'bootstrap' ? 'bootstrap' : 'token',
      id: caller.actor.id,
      name: caller.actor.name,
      scopes: [...caller.scopes],
      namespaces: caller.namespaces ? [...caller.namespaces] : null,
    };
  }
}
