import { ApiProperty } from '@nestjs/swagger';
import { IsString } from 'class-validator';

/** Bytes a secret's value may have (SPEC section 11). */
export const SECRET_MIN_BYTES = 8;
export const SECRET_MAX_BYTES = 65536;
/** Longest secret name (an environment variable name). */
export const SECRET_NAME_MAX = 255;

export class PutSecretRequest {
  @ApiProperty({
    description: `${SECRET_MIN_BYTES} to ${SECRET_MAX_BYTES} bytes (UTF-8), not only whitespace. Write-only: no route returns it.`,
    example: 'ghp_0123456789abcdef',
    writeOnly: true,
  })
  // The default message names the field only ("value must be a string"), never what was sent.
  @IsString()
  value: string;
}

export class SecretResponse {
  @ApiProperty({ example: 'DEPLOY_TOKEN', description: 'An environment variable name' })
  name: string;

  @ApiProperty({ format: 'date-time', description: 'When it was first set; a replace keeps it' })
  created_at: string;

  @ApiProperty({ format: 'date-time', description: 'When its value was last set' })
  updated_at: string;
}

export interface SecretRow {
  name: string;
  created_at: Date;
  updated_at: Date;
}

/** Names and dates only: there is no field a value could travel in. */
export function mapSecret(row: SecretRow): SecretResponse {
  return { name: row.name, created_at: row.created_at.toISOString(), updated_at: row.updated_at.toISOString() };
}
