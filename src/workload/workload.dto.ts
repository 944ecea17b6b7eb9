import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { IMAGE_REFERENCE, IMAGE_REFERENCE_MAX, IMAGE_REFERENCE_MESSAGE } from '../common/image-reference';
import { PageQuery } from '../common/pagination';
import { NAME_PATTERN } from '../common/validation';
import { NoNul } from '../common/validators';
import { ResourcesDto } from '../run/run.dto';

/** Seed 002's one workload type. */
export const WORKLOAD_TYPES = ['CONTAINER'] as const;
/** Entries of `environment`, `ports`, `command` and `labels` (seed 002: 100). */
export const MAX_LIST = 100;
/** `"8080"` (the engine picks the host port) or `"9000:8080"` (host port 9000). */
export const PORT_PATTERN = /^(?:([1-9]\d{0,4}):)?([1-9]\d{0,4})$/;
/** `"NAME=value"`. */
export const ENV_ENTRY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*=/;

/** The template fields a workload and an inline instance share; all optional here (PATCH). */
export class TemplateFields {
  @ApiPropertyOptional({ example: 'CONTAINER', enum: WORKLOAD_TYPES, default: 'CONTAINER' })
  @IsOptional()
  @IsIn(WORKLOAD_TYPES, { message: 'type must be CONTAINER' })
  type?: string;

  @ApiPropertyOptional({ example: 'docker.io/library/busybox:1.36', description: 'The image' })
  @IsOptional()
  @IsString()
  @MaxLength(IMAGE_REFERENCE_MAX)
  @Matches(IMAGE_REFERENCE, { message: `uri ${IMAGE_REFERENCE_MESSAGE}` })
  uri?: string;

  @ApiPropertyOptional({ type: [String], example: ['httpd', '-f', '-p', '8080'], description: "Replaces the image's default command" })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_LIST)
  @IsString({ each: true })
  @MaxLength(4096, { each: true })
  @NoNul({ each: true })
  command?: string[];

  @ApiPropertyOptional({ type: [String], example: ['GREETING=hello'], description: '"NAME=value" entries' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_LIST)
  @IsString({ each: true })
  @MaxLength(32768, { each: true })
  @Matches(ENV_ENTRY_PATTERN, { each: true, message: 'environment entries must look like NAME=value' })
  @NoNul({ each: true })
  environment?: string[];

  @ApiPropertyOptional({ type: ResourcesDto, description: 'Claimed on the runner while placed: cpu cores, memory and disk in MiB' })
  @IsOptional()
  @ValidateNested()
  @Type(() => ResourcesDto)
  resources?: ResourcesDto;

  @ApiPropertyOptional({ type: [String], example: ['8080', '9000:80'], description: '"8080": a host port the engine picks; "9000:80": host port 9000' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_LIST)
  @IsString({ each: true })
  @Matches(PORT_PATTERN, { each: true, message: 'ports entries must look like "8080" or "9000:8080" (1 to 65535)' })
  ports?: string[];

  @ApiPropertyOptional({ type: [String], example: ['linux'], description: 'A runner must carry all of them' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_LIST)
  @IsString({ each: true })
  @MaxLength(100, { each: true })
  labels?: string[];
}

export class PutWorkloadRequest extends TemplateFields {
  @ApiProperty({ example: 'web', description: 'Unique; letters, digits, ".", "_", "-" (1 to 63)' })
  @IsString()
  @Matches(NAME_PATTERN, { message: 'name must be 1 to 63 letters, digits, ".", "_" or "-"' })
  name: string;

  @ApiProperty({ example: 'docker.io/library/busybox:1.36', description: 'The image' })
  @IsString()
  @MaxLength(IMAGE_REFERENCE_MAX)
  @Matches(IMAGE_REFERENCE, { message: `uri ${IMAGE_REFERENCE_MESSAGE}` })
  declare uri: string;
}

export class PatchWorkloadRequest extends TemplateFields {
  @ApiPropertyOptional({ example: 'web' })
  @IsOptional()
  @IsString()
  @Matches(NAME_PATTERN, { message: 'name must be 1 to 63 letters, digits, ".", "_" or "-"' })
  name?: string;
}

export class WorkloadListQuery extends PageQuery {
  @ApiPropertyOptional({ description: 'Skip this many (seed 002); `cursor` is the cheaper way to page' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(1_000_000_000)
  offset?: number;

  @ApiPropertyOptional({ enum: WORKLOAD_TYPES })
  @IsOptional()
  @IsIn(WORKLOAD_TYPES, { message: 'type must be CONTAINER' })
  type?: string;
}

export class ResourcesResponse {
  @ApiProperty() cpu: number;
  @ApiProperty({ description: 'MiB' }) memory: number;
  @ApiProperty({ description: 'MiB' }) disk: number;
}

export class WorkloadResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: WORKLOAD_TYPES }) type: string;
  @ApiProperty() uri: string;
  @ApiPropertyOptional({ type: [String] }) command?: string[];
  @ApiProperty({ type: [String] }) environment: string[];
  @ApiProperty({ type: ResourcesResponse }) resources: ResourcesResponse;
  @ApiProperty({ type: [String] }) ports: string[];
  @ApiProperty({ type: [String] }) labels: string[];
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ format: 'date-time' }) updated_at: string;
}

export class WorkloadPage {
  @ApiProperty({ type: [WorkloadResponse] }) items: WorkloadResponse[];
  @ApiProperty({ type: String, nullable: true }) next_cursor: string | null;
}

export interface TemplateRow {
  id: string;
  seq: string;
  name: string;
  type: string;
  uri: string;
  command: string[] | null;
  environment: string[];
  res_cpu: number;
  res_memory: number;
  res_disk: number;
  ports: string[];
  labels: string[];
  created_at: Date;
  updated_at: Date;
}

export function mapWorkload(row: TemplateRow): WorkloadResponse {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    uri: row.uri,
    ...(row.command !== null && { command: row.command }),
    environment: row.environment,
    resources: { cpu: row.res_cpu, memory: row.res_memory, disk: row.res_disk },
    ports: row.ports,
    labels: row.labels,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** Port numbers must be 1 to 65535 and no container or host port twice; throws the 400's message. */
export function checkPorts(ports: string[]): string | null {
  const hosts = new Set<string>();
  const containers = new Set<string>();
  for (const p of ports) {
    const m = PORT_PATTERN.exec(p);
    if (!m) return `ports entries must look like "8080" or "9000:8080"`;
    const [, host, container] = m;
    if (Number(container) > 65535 || (host !== undefined && Number(host) > 65535)) return `ports: ${p} is not a port (1 to 65535)`;
    if (containers.has(container)) return `ports: container port ${container} is listed twice`;
    containers.add(container);
    if (host !== undefined) {
      if (hosts.has(host)) return `ports: host port ${host} is listed twice`;
      hosts.add(host);
    }
  }
  return null;
}
