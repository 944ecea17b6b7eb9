import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsISO8601,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
} from 'class-validator';
import { NAME_PATTERN } from '../common/validation';
import { NoNul } from '../common/validators';
import { Scope, SCOPES } from './scopes';

export class CreateTokenRequest {
  @ApiProperty({ example: 'alice (read-only)' })
  @NoNul()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name: string;

  @ApiProperty({ enum: SCOPES, isArray: true, example: ['read'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(3)
  @IsIn(SCOPES, { each: true, message: 'scopes must each be one of read, write, admin' })
  scopes: Scope[];

  @ApiPropertyOptional({
    type: [String],
    description: 'The token sees and acts on these namespaces only (not with the admin scope)',
    example: ['team-a'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @Matches(NAME_PATTERN, { each: true, message: 'namespaces must each be 1–63 letters, digits, ".", "_" or "-"' })
  namespaces?: string[];

  @ApiPropertyOptional({ format: 'date-time', description: 'Default: 90 days from now; at most 365 days' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'expires_at must be an ISO 8601 time' })
  expires_at?: string;
}

export class TokenSummary {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: SCOPES, isArray: true }) scopes: Scope[];
  @ApiProperty({ type: [String], nullable: true, description: 'null: every namespace' }) namespaces: string[] | null;
  @ApiProperty({ format: 'date-time' }) expires_at: string;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'Updated at most every few minutes' })
  last_used_at: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) revoked_at: string | null;
}

export class CreatedToken extends TokenSummary {
  @ApiProperty({ description: 'Shown once; starts with pulse_pat_', example: 'pulse_pat_…' }) token: string;
}

export class TokenListResponse {
  @ApiProperty({ type: [TokenSummary] }) items: TokenSummary[];
  @ApiProperty({ type: String, nullable: true }) next_cursor: string | null;
}

export interface TokenRow {
  id: string;
  name: string;
  token_hash: Buffer;
  scopes: Scope[];
  namespaces: string[] | null;
  expires_at: Date;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  seq: string;
}

export function mapToken(row: TokenRow): TokenSummary {
  return {
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    namespaces: row.namespaces,
    expires_at: row.expires_at.toISOString(),
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}
