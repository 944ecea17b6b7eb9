import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { IMAGE_REFERENCE, IMAGE_REFERENCE_MAX, IMAGE_REFERENCE_MESSAGE } from '../common/image-reference';
import { PageQuery } from '../common/pagination';
import { IsEnvMap, IsScript, NoNul } from '../common/validators';
import { ENV_NAME_PATTERN, NAME_PATTERN } from '../common/validation';
import { RUN_STATES, RunState } from './run-state';
import type { RunRow } from './run.entity';

export const MAX_RUNS_PER_SUBMISSION = 50000;

export class ResourcesDto {
  @ApiPropertyOptional({ description: 'CPU cores', minimum: 0, example: 2 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000000)
  cpu?: number;

  @ApiPropertyOptional({ description: 'Memory in MiB', minimum: 0, example: 4096 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(2147483647)
  memory?: number;

  @ApiPropertyOptional({ description: 'Disk in MiB', minimum: 0, example: 10240 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(2147483647)
  disk?: number;
}

export class JobDto {
  @ApiPropertyOptional({ description: 'Repository; without it, the only entry of `repos`' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(2048)
  @NoNul()
  repo?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' }, description: 'Merged over the submission env' })
  @IsOptional()
  @IsEnvMap()
  @NoNul()
  env?: Record<string, string>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Free-form data for the runner' })
  @IsOptional()
  @IsObject()
  @NoNul()
  payload?: Record<string, unknown>;

  @ApiPropertyOptional({ example: 'debian:12', description: "Run this job in a container of this image (overrides the submission's)" })
  @IsOptional()
  @IsString()
  @MaxLength(IMAGE_REFERENCE_MAX)
  @Matches(IMAGE_REFERENCE, { message: `image ${IMAGE_REFERENCE_MESSAGE}` })
  image?: string;
}

export class SubmitRunsRequest {
  @ApiProperty({ example: 'backend' })
  @IsString()
  @Matches(NAME_PATTERN, { message: 'namespace must be 1–63 letters, digits, ".", "_" or "-"' })
  namespace: string;

  @ApiProperty({
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    description: 'A run.sh as one string, or its lines',
    example: ['npm ci', 'npm test'],
  })
  @IsScript()
  @NoNul()
  script: string | string[];

  @ApiPropertyOptional({ type: [String], description: 'Repositories of the namespace to run on' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_RUNS_PER_SUBMISSION)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @NoNul()
  repos?: string[];

  @ApiPropertyOptional({ type: [JobDto], description: 'One run per job' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_RUNS_PER_SUBMISSION)
  @ValidateNested({ each: true })
  @Type(() => JobDto)
  jobs?: JobDto[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string' } })
  @IsOptional()
  @IsEnvMap()
  @NoNul()
  env?: Record<string, string>;

  @ApiPropertyOptional({ description: 'Seconds; default RUN_DEFAULT_TIMEOUT', minimum: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(30 * 86400)
  timeout?: number;

  @ApiPropertyOptional({ type: [String], description: 'A runner must have all of these labels' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  @Matches(/^[^\s,]{1,100}$/, { each: true, message: 'labels must be 1–100 characters without spaces or commas' })
  @NoNul()
  labels?: string[];

  @ApiPropertyOptional({ description: "Only runners whose framework name equals this", example: 'shell' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @NoNul()
  framework?: string;

  @ApiPropertyOptional({ type: ResourcesDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => ResourcesDto)
  resources?: ResourcesDto;

  @ApiPropertyOptional({ description: 'Higher first', default: 0 })
  @IsOptional()
  @IsInt()
  @Min(-1000000)
  @Max(1000000)
  priority?: number;

  @ApiPropertyOptional({ description: 'Dispatches allowed when runners are lost; default MAX_ATTEMPTS', minimum: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  max_attempts?: number;

  @ApiPropertyOptional({ example: 'debian:12', description: 'Run in a container of this image, on a runner with a container engine' })
  @IsOptional()
  @IsString()
  @MaxLength(IMAGE_REFERENCE_MAX)
  @Matches(IMAGE_REFERENCE, { message: `image ${IMAGE_REFERENCE_MESSAGE}` })
  image?: string;
  @ApiPropertyOptional({
    type: [String],
    description: "Names of the namespace's secrets the runs receive (in env, masked in logs); a name it lacks: 400",
    example: ['DEPLOY_TOKEN'],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @Matches(ENV_NAME_PATTERN, { each: true, message: 'secrets must be environment variable names (^[A-Za-z_][A-Za-z0-9_]*$)' })
  @MaxLength(255, { each: true })
  secrets?: string[];
}

export class SubmitRunsResponse {
  @ApiProperty({ format: 'uuid' })
  batch_id: string;

  @ApiProperty({ type: [String] })
  runs: string[];
}

export class RunListQuery extends PageQuery {
  @ApiPropertyOptional({ enum: RUN_STATES })
  @IsOptional()
  @IsIn(RUN_STATES)
  state?: RunState;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  batch?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  runner?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Matches(NAME_PATTERN, { message: 'namespace must be 1–63 letters, digits, ".", "_" or "-"' })
  namespace?: string;
}

export class LogQuery {
  @ApiPropertyOptional({ description: 'Start at this byte', minimum: 0 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  offset?: number;

  @ApiPropertyOptional({ description: '1: stream (chunked) until the run is final', enum: ['0', '1', 'true', 'false'] })
  @IsOptional()
  @IsIn(['0', '1', 'true', 'false'])
  follow?: string;
}

export class RunSummary {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) batch_id: string;
  @ApiProperty({ type: String, nullable: true, description: 'Runner id holding or last holding the run' }) host: string | null;
  @ApiProperty({ enum: RUN_STATES }) state: RunState;
  @ApiProperty() repo: string;
  @ApiProperty({ description: 'Log length in bytes' }) logs: number;
  @ApiProperty({ type: Number, nullable: true }) exit_code: number | null;
  @ApiProperty() attempt: number;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) started_at: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finished_at: string | null;
}

export class RunListResponse {
  @ApiProperty({ type: [RunSummary] }) items: RunSummary[];
  @ApiProperty({ type: String, nullable: true }) next_cursor: string | null;
  @ApiProperty({ type: 'integer', description: 'The newest event id when this list was read: pass it as GET /api/events?after= to follow from here' })
  event_cursor: number;
}

export class RunDetail extends RunSummary {
  @ApiProperty() namespace: string;
  @ApiProperty({ description: 'Seconds' }) timeout: number;
  @ApiProperty({ type: [String] }) labels: string[];
  @ApiProperty({ type: String, nullable: true }) framework: string | null;
  @ApiProperty({ type: ResourcesDto }) resources: ResourcesDto;
  @ApiProperty() priority: number;
  @ApiProperty() max_attempts: number;
  @ApiProperty({ type: 'object', nullable: true, additionalProperties: true }) payload: Record<string, unknown> | null;
  @ApiProperty({ type: 'object', nullable: true, additionalProperties: true, description: 'What the runner uploaded' })
  result: Record<string, unknown> | null;
  @ApiProperty({ type: String, nullable: true, description: 'Why a waiting run is not running yet' })
  pending_reason: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'Why the run last changed state, when the system changed it' })
  reason: string | null;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' }, description: 'Values hidden' })
  env: Record<string, string>;
  @ApiProperty({ type: [String], description: 'The script lines' }) script: string[];
  @ApiProperty({ type: [String], description: 'Names of the secrets the run receives (never their values)' }) secrets: string[];
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) cancel_requested_at: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'The container image it runs in; null: the shell executor' })
  image: string | null;
  @ApiProperty({ description: 'True when LOG_RETENTION_DAYS dropped the log (it answers 410)' }) logs_pruned: boolean;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function mapRunSummary(row: RunRow): RunSummary {
  return {
    id: row.id,
    batch_id: row.batch_id,
    host: row.runner_id,
    state: row.state,
    repo: row.repo,
    logs: Number(row.log_stored),
    exit_code: row.exit_code,
    attempt: row.attempt,
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
  };
}

/** Never the `messageId`, never an env value. */
export function mapRunDetail(row: RunRow, pendingReason: string | null): RunDetail {
  return {
    ...mapRunSummary(row),
    namespace: row.namespace,
    timeout: row.timeout,
    labels: row.labels,
    framework: row.framework,
    resources: { cpu: row.res_cpu, memory: row.res_memory, disk: row.res_disk },
    priority: row.priority,
    max_attempts: row.max_attempts,
    payload: row.payload,
    result: row.result,
    pending_reason: pendingReason,
    reason: row.reason,
    env: Object.fromEntries(Object.keys(row.env).map((k) => [k, '***'])),
    script: row.script,
    secrets: row.secrets ?? [],
    cancel_requested_at: iso(row.cancel_requested_at),
    image: row.image,
    logs_pruned: row.logs_pruned === true,
  };
}
