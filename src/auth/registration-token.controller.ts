import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/api-errors';
import { Page, PageQuery } from '../common/pagination';
import { CurrentCaller } from './caller.decorator';
import {
  CreatedRegistrationToken,
  CreateRegistrationTokenRequest,
  RegistrationTokenListResponse,
  RegistrationTokenSummary,
} from './registration-token.dto';
import { RegistrationTokenService } from './registration-token.service';
import { RequireScope } from './require-scope.decorator';
import type { Caller } from './scopes';

/** Registration tokens for runners (SPEC section 12). */
@ApiTags('registration tokens')
@Controller('registration-tokens')
export class RegistrationTokenController {
  constructor(private readonly tokens: RegistrationTokenService) {}

  @Post()
  @RequireScope('admin')
  @ApiOperation({ summary: 'Create a registration token; its value is shown once' })
  @ApiCreatedResponse({ type: CreatedRegistrationToken })
  @ApiErrors(400, 413)
  create(@Body() body: CreateRegistrationTokenRequest, @CurrentCaller() caller: Caller): Promise<CreatedRegistrationToken> {
    return this.tokens.create(body, caller.actor);
  }

  @Get()
  @RequireScope('admin')
  @ApiOperation({ summary: 'List registration tokens, newest first (never their values)' })
  @ApiOkResponse({ type: RegistrationTokenListResponse })
  @ApiErrors(400)
  list(@Query() query: PageQuery): Promise<Page<RegistrationTokenSummary>> {
    return this.tokens.list(query);
  }

  @Delete(':id')
  @HttpCode(200)
  @RequireScope('admin')
  @ApiOperation({ summary: 'Revoke a registration token: registering with it answers 401' })
  @ApiOkResponse({ type: RegistrationTokenSummary })
  @ApiErrors(400, 404)
  revoke(@Param('id', new ParseUUIDPipe()) id: string, @CurrentCaller() caller: Caller): Promise<RegistrationTokenSummary> {
    return this.tokens.revoke(id, caller.actor);
  }
}
