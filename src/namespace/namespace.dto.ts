import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { NAME_PATTERN } from '../common/validation';
import { NoNul } from '../common/validators';
import type { Namespace } from './namespace.entity';

export class PutNamespaceRequest {
  @ApiProperty({ example: 'backend', pattern: NAME_PATTERN.source, description: '1–63 letters, digits, `.`, `_` or `-`.' })
  @IsString()
  @Matches(NAME_PATTERN, { message: 'namespace_name must be 1–63 letters, digits, ".", "_" or "-"' })
  namespace_name: string;

  @ApiProperty({ type: [String], example: ['https://git.example.com/team/api.git'] })
  @IsArray()
  @ArrayMaxSize(10000)
  @IsString({ each: true })
  @MinLength(1, { each: true, message: 'repositories must not contain empty strings' })
  @MaxLength(2048, { each: true })
  @NoNul()
  repositories: string[];
}

export class NamespaceResponse {
  @ApiProperty({ example: 'backend' })
  namespace_name: string;

  @ApiProperty({ type: [String] })
  repositories: string[];
}

export function mapNamespace(ns: Pick<Namespace, 'name' | 'repositories'>): NamespaceResponse {
  return { namespace_name: ns.name, repositories: ns.repositories };
}
