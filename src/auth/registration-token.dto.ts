import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsISO8601,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';
import { NAME_PATTERN } from '../common/validation';
import { NoNul } from '../common/validators';

export class CreateRegistrationTokenRequest {
  @ApiProperty({ example: 'team-a build hosts' })
  @NoNul()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name: string;

  @ApiPropertyOptional({ type: [String], description: 'Labels every runner registered with it gets', example: ['team-a'] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  @Matches(/^[^\s,]{1,100}$/, { each: true, message: 'labels must be 1–100 characters without spaces or commas' })
  labels?: string[];

  @ApiPropertyOptional({ type: [String], description: 'Its runners take runs of these namespaces only', example: ['team-a'] })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @Matches(NAME_PATTERN, { each: true, message: 'namespaces must each be 1–63 letters, digits, ".", "_" or "-"' })
  namespaces?: string[];

  @ApiPropertyOptional({ format: 'date-time', description: 'Default: never expires' })
  @IsOptional()
  @IsISO8601({ strict: true }, { message: 'expires_at must be an ISO 8601 time' })
  expires_at?: string;

  @ApiPropertyOptional({ description: 'How many runners may register with it; default unlimited', minimum: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  max_uses?: number;
}

export class RegistrationTokenSummary {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ type: [String] }) labels: string[];
  @ApiProperty({ type: [String], nullable: true, description: 'null: every namespace' }) namespaces: string[] | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) expires_at: string | null;
  @ApiProperty({ type: Number, nullable: true }) max_uses: number | null;
  @ApiProperty({ description: 'Runners registered with it so far' }) uses: number;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) revoked_at: string | null;
}

export class CreatedRegistrationToken extends RegistrationTokenSummary {
  @ApiProperty({ description: 'Shown once; starts with pulse_reg_', example: 'pulse_reg_…' }) token: string;
}

export class RegistrationTokenListResponse {
  @ApiProperty({ type: [RegistrationTokenSummary] }) items: RegistrationTokenSummary[];
  @ApiProperty({ type: String, nullable: true }) next_cursor: string | null;
}

export interface RegistrationTokenRow {
  id: string;
  name: string;
  token_hash: Buffer;
  labels: string[];
  namespaces: string[] | null;
  expires_at: Date | null;
  max_uses: number | null;
  uses: number;
  created_at: Date;
  revoked_at: Date | null;
  seq: string;
}

export function mapRegistrationToken(row: RegistrationTokenRow): RegistrationTokenSummary {
  return {
    id: row.id,
    name: row.name,
    labels: row.labels,
    namespaces: row.namespaces,
    expires_at: row.expires_at?.toISOString() ?? null,
    max_uses: row.max_uses,
    uses: row.uses,
    created_at: row.created_at.toISOString(),
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}
