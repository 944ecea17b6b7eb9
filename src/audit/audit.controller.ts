import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { RequireScope } from '../auth/require-scope.decorator';
import { ApiErrors } from '../common/api-errors';
import { Page } from '../common/pagination';
import { AuditEntry, AuditListQuery, AuditListResponse } from './audit.dto';
import { AuditService } from './audit.service';

@ApiTags('audit')
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @RequireScope('admin')
  @ApiOperation({ summary: 'The audit log, newest first; filters action and since' })
  @ApiOkResponse({ type: AuditListResponse })
  @ApiErrors(400)
  list(@Query() query: AuditListQuery): Promise<Page<AuditEntry>> {
    return this.audit.list(query);
  }
}
