import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/api-errors';
import { Page, PageQuery } from '../common/pagination';
import { CurrentCaller } from './caller.decorator';
import { RequireScope } from './require-scope.decorator';
import type { Caller } from './scopes';
import { CreatedToken, CreateTokenRequest, TokenListResponse, TokenSummary } from './token.dto';
import { TokenService } from './token.service';

/** API tokens with scopes (SPEC section 12). */
@ApiTags('tokens')
@Controller('tokens')
export class TokenController {
  constructor(private readonly tokens: TokenService) {}

  @Post()
  @RequireScope('admin')
  @ApiOperation({ summary: 'Create an API token; its value is shown once' })
  @ApiCreatedResponse({ type: CreatedToken })
  @ApiErrors(400, 413)
  create(@Body() body: CreateTokenRequest, @CurrentCaller() caller: Caller): Promise<CreatedToken> {
    return this.tokens.create(body, caller.actor);
  }

  @Get()
  @RequireScope('admin')
  @ApiOperation({ summary: 'List API tokens, newest first (never their values)' })
  @ApiOkResponse({ type: TokenListResponse })
  @ApiErrors(400)
  list(@Query() query: PageQuery): Promise<Page<TokenSummary>> {
    return this.tokens.list(query);
  }

  @Delete(':id')
  @HttpCode(200)
  @RequireScope('admin')
  @ApiOperation({ summary: 'Revoke an API token, at once in every process' })
  @ApiOkResponse({ type: TokenSummary })
  @ApiErrors(400, 404)
  revoke(@Param('id', new ParseUUIDPipe()) id: string, @CurrentCaller() caller: Caller): Promise<TokenSummary> {
    return this.tokens.revoke(id, caller.actor);
  }
}
