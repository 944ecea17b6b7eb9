import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional, IsString, Matches } from 'class-validator';
import { PageQuery } from '../common/pagination';

export class AuditListQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Only this action, e.g. token.revoked', example: 'token.created' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z_]{1,40}\.[a-z_]{1,40}$/, { message: 'action must look like token.created' })
  action?: string;

  @ApiPropertyOptional({ description: 'Only entries at or after this time (ISO 8601)', format: 'date-time' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'since must be an ISO 8601 time' })
  since?: string;
}

export class AuditActorDto {
  @ApiProperty({ enum: ['token', 'bootstrap', 'runner', 'system'] }) type: 'token' | 'bootstrap' | 'runner' | 'system';
  @ApiProperty({ type: String, nullable: true, description: 'The API token or runner id' }) id: string | null;
  @ApiProperty({ type: String, nullable: true }) name: string | null;
}

export class AuditSubjectDto {
  @ApiProperty({ example: 'batch' }) type: string;
  @ApiProperty() id: string;
}

export class AuditEntry {
  @ApiProperty() id: string;
  @ApiProperty({ format: 'date-time' }) at: string;
  @ApiProperty({ type: AuditActorDto }) actor: AuditActorDto;
  @ApiProperty({ example: 'run.submitted' }) action: string;
  @ApiProperty({ type: AuditSubjectDto, nullable: true }) subject: AuditSubjectDto | null;
  @ApiProperty({ type: String, nullable: true }) ip: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'Names and counts; never a value or a token' })
  data: Record<string, unknown>;
}

export class AuditListResponse {
  @ApiProperty({ type: [AuditEntry] }) items: AuditEntry[];
  @ApiProperty({ type: String, nullable: true }) next_cursor: string | null;
}

export interface AuditRow {
  seq: string;
  id: string;
  at: Date;
  actor_type: AuditActorDto['type'];
  actor_id: string | null;
  actor_name: string | null;
  action: string;
  subject_type: string | null;
  subject_id: string | null;
  ip: string | null;
  data: Record<string, unknown>;
}

export function mapAuditEntry(row: AuditRow): AuditEntry {
  return {
    id: String(row.id),
    at: row.at.toISOString(),
    actor: { type: row.actor_type, id: row.actor_id, name: row.actor_name },
    action: row.action,
    subject: row.subject_type && row.subject_id ? { type: row.subject_type, id: row.subject_id } : null,
    ip: row.ip,
    data: row.data,
  };
}
