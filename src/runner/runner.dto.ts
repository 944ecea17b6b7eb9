import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
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
import { completeBody, fastBody, heartbeatBody, updateBody } from '../common/fast-bodies';
import { IMAGE_REFERENCE, IMAGE_REFERENCE_MAX, IMAGE_REFERENCE_MESSAGE } from '../common/image-reference';
import { PageQuery } from '../common/pagination';
import { NoNul } from '../common/validators';
import { DesiredInstanceDto, InstanceReportDto } from '../instance/instance-protocol.dto';
import { ResourcesDto } from '../run/run.dto';
import type { ResultState } from '../run/run-state';
import type { RunnerRow } from './runner.entity';

const LABEL = /^[^\s,]{1,100}$/;

export class UsageDto {
  @ApiPropertyOptional() @IsOptional() @IsNumber() @Min(0) cpu?: number;
  @ApiPropertyOptional() @IsOptional() @IsNumber() @Min(0) memory?: number;
  @ApiPropertyOptional() @IsOptional() @IsNumber() @Min(0) disk?: number;
}

/** The container engine a runner drives (SPEC section 9). */
export class ContainerFactsDto {
  @ApiProperty({ example: 'podman', description: 'docker or podman' }) @IsString() @MaxLength(100) @NoNul() engine: string;
  @ApiProperty({ example: '4.3.1' }) @IsString() @MaxLength(100) @NoNul() version: string;
  @ApiProperty({ example: '1.41', description: "The engine's API version (the runner speaks 1.40)" }) @IsString() @MaxLength(100) @NoNul() apiVersion: string;
  @ApiProperty({ example: 'linux' }) @IsString() @MaxLength(100) @NoNul() os: string;
  @ApiProperty({ example: 'amd64' }) @IsString() @MaxLength(100) @NoNul() arch: string;
  @ApiProperty({ description: "The runner's last ping of the engine worked" }) @IsBoolean() healthy: boolean;
}

export const EXECUTORS = ['shell', 'container'] as const;

/** `container`, `executors`, `defaultImage`: in registrations and heartbeats alike. */
class CapabilitiesDto {
  @ApiPropertyOptional({ type: ContainerFactsDto, description: 'Absent when the runner has no container engine' })
  @IsOptional()
  @ValidateNested()
  @Type(() => ContainerFactsDto)
  container?: ContainerFactsDto;

  @ApiPropertyOptional({ enum: EXECUTORS, isArray: true, description: 'What it can run; absent: ["shell"]' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(2)
  @IsIn(EXECUTORS, { each: true })
  executors?: Array<(typeof EXECUTORS)[number]>;

  @ApiPropertyOptional({ example: 'debian:12', description: 'Runs without an image run in this one' })
  @IsOptional()
  @IsString()
  @MaxLength(IMAGE_REFERENCE_MAX)
  @Matches(IMAGE_REFERENCE, { message: `defaultImage ${IMAGE_REFERENCE_MESSAGE}` })
  defaultImage?: string;
}

const FRAMEWORK_DOC = {
  type: 'object',
  additionalProperties: true,
  description: 'Free-form: {name, version, branding?, dependencies?, system?: {ci, os, cpu, ram}} (seed 003)',
  example: { name: 'shell', version: '0.1.0', system: { ci: true, os: { platform: 'linux' } } },
} as const;

export class RegistrationRequest extends CapabilitiesDto {
  @ApiProperty({ description: 'The registration token (RUNNER_REGISTRATION_TOKEN)' })
  @IsString()
  @MinLength(1)
  @MaxLength(500)
  token: string;

  @ApiPropertyOptional({ example: 'build-host-1' })
  @IsOptional()
  @NoNul()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name?: string;

  @ApiPropertyOptional({ type: [String], example: ['linux', 'docker'] })
  @IsOptional()
  @NoNul()
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  @Matches(LABEL, { each: true, message: 'labels must be 1–100 characters without spaces or commas' })
  labels?: string[];

  @ApiPropertyOptional(FRAMEWORK_DOC)
  @IsOptional()
  @NoNul()
  @IsObject()
  framework?: Record<string, unknown>;

  @ApiPropertyOptional({ type: ResourcesDto, description: "The runner's maximum (memory and disk in MiB)" })
  @IsOptional()
  @ValidateNested()
  @Type(() => ResourcesDto)
  resources?: ResourcesDto;
}

export class RegistrationResponse {
  @ApiProperty({ format: 'uuid' }) runner_id: string;
  @ApiProperty({ description: 'Shown once; starts with pulse_rt_', example: 'pulse_rt_…' }) runner_token: string;
}

export class DeregistrationRequest {
  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  id: string;
}

export class HeartbeatRequest extends CapabilitiesDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  id: string;

  @ApiProperty({ enum: ['busy', 'ready'] })
  @IsIn(['busy', 'ready'])
  status: 'busy' | 'ready';

  @ApiPropertyOptional(FRAMEWORK_DOC)
  @IsOptional()
  @NoNul()
  @IsObject()
  framework?: Record<string, unknown>;

  @ApiPropertyOptional({ type: UsageDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => UsageDto)
  usage?: UsageDto;

  @ApiPropertyOptional({ type: [String], description: 'Runs the runner executes now' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsUUID('all', { each: true })
  runs?: string[];

  @ApiPropertyOptional({
    description:
      'Long poll, in seconds (capped by LONG_POLL_MAX). Ready: wait for work. Busy (runs listed): wait until one of ' +
      'the runs is canceled or times out, at most half of RUNNER_DEAD_AFTER (SPEC section 13)',
  })
  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(3600)
  wait?: number;

  @ApiPropertyOptional({
    type: [InstanceReportDto],
    description: 'Every instance the runner holds, with its status (SPEC section 10); omitted by runners without instances',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000)
  @ValidateNested({ each: true })
  @Type(() => InstanceReportDto)
  instances?: InstanceReportDto[];
}

fastBody(HeartbeatRequest, heartbeatBody);

export class RunAssignment {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid', description: 'The batch' }) project: string;
  @ApiProperty({ format: 'uuid', description: 'The lease: every later call about this run carries it' }) messageId: string;
  @ApiProperty() attempt: number;
  @ApiProperty() repo: string;
  @ApiProperty({ type: [String] }) script: string[];
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) env: Record<string, string>;
  @ApiProperty({ description: 'Seconds' }) timeout: number;
  @ApiPropertyOptional({ type: 'object', additionalProperties: true }) payload?: Record<string, unknown>;
  @ApiPropertyOptional({ example: 'debian:12', description: 'Run the script in a container of this image' }) image?: string;
  @ApiPropertyOptional({ type: ResourcesDto, description: 'What the run asked for (present when it asked): container limits' })
  resources?: ResourcesDto;
  @ApiPropertyOptional({
    type: [String],
    description: 'Names of the variables of env that hold secrets: the runner masks their values in the log ([MASKED])',
  })
  masked?: string[];
}

/** A new runner token offered in a heartbeat answer (SPEC section 12). */
export class TokenOffer {
  @ApiProperty({ description: 'The new runner token: save it, then use it', example: 'pulse_rt_…' }) value: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'null: never expires' }) expires_at: string | null;
}

export class HeartbeatBody {
  @ApiProperty({ example: 'ok' }) status: 'ok';
  @ApiProperty({ description: 'Seconds until the next heartbeat (add jitter)' }) interval: number;
  @ApiPropertyOptional({ type: RunAssignment }) run?: RunAssignment;
  @ApiPropertyOptional({ type: [String], description: 'Runs to stop now' }) cancel?: string[];
  @ApiPropertyOptional({
    type: [DesiredInstanceDto],
    description:
      'The whole desired list of instances (SPEC section 10), to runners that hold or should hold any: start what is ' +
      'missing, stop what is STOPPED, remove every container of yours not in it',
  })
  instances?: DesiredInstanceDto[];
  @ApiPropertyOptional({
    type: TokenOffer,
    description: 'A new runner token, offered in the last quarter of the current one\'s life: write it to the config, then use it',
  })
  token?: TokenOffer;
}

export class HeartbeatResponse {
  @ApiProperty({ type: HeartbeatBody }) heartbeat: HeartbeatBody;
}

export class UpdateRequest {
  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  messageId: string;

  @ApiProperty({ description: 'UTF-8 byte offset at which `logs` is appended' })
  @IsInt()
  @Min(0)
  offset: number;

  @ApiProperty({ description: 'Log text to append (may be empty: an acknowledgement)' })
  @IsString()
  logs: string;
}

fastBody(UpdateRequest, updateBody);

export class UpdateResponse {
  @ApiProperty({ description: 'Log length in bytes after the append' }) offset: number;
  @ApiProperty({ description: 'True: stop the run and complete it as canceled' }) cancel: boolean;
}

export class ResultDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  id: string;

  @ApiProperty({ enum: ['finished', 'failed', 'timeout', 'canceled'] })
  @IsIn(['finished', 'failed', 'timeout', 'canceled'])
  status: ResultState;

  @ApiPropertyOptional()
  @IsOptional()
  @IsInt()
  @Min(-2147483648)
  @Max(2147483647)
  exitCode?: number;

  @ApiPropertyOptional({ description: "Free-form, e.g. a mutant's Killed/Survived" })
  @IsOptional()
  @NoNul()
  @IsString()
  @MaxLength(1000)
  outcome?: string;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @NoNul()
  @IsObject()
  data?: Record<string, unknown>;

  @ApiPropertyOptional({ description: 'Log bytes the runner produced; the server must hold them all' })
  @IsOptional()
  @IsInt()
  @Min(0)
  logBytes?: number;
}

export class CompleteRequest {
  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  messageId: string;

  @ApiProperty({ type: ResultDto })
  @IsObject()
  @ValidateNested()
  @Type(() => ResultDto)
  result: ResultDto;
}

fastBody(CompleteRequest, completeBody);

export class CompleteResponse {
  @ApiProperty({ example: 'OK' }) status: 'OK';
}

export class RunnerListQuery extends PageQuery {}

export class RunnerSummary {
  @ApiProperty({ format: 'uuid' }) runner_id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: ['waiting', 'running', 'dead'] }) state: 'waiting' | 'running' | 'dead';
  @ApiProperty() enabled: boolean;
  @ApiProperty({ type: String, nullable: true }) current_run: string | null;
  @ApiProperty({ type: [String] }) labels: string[];
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) last_heartbeat_at: string | null;
  @ApiProperty({ description: 'Deregistered runners are blacklisted forever' }) deregistered: boolean;
}

export class RunnerListResponse {
  @ApiProperty({ type: [RunnerSummary] }) items: RunnerSummary[];
  @ApiProperty({ type: String, nullable: true }) next_cursor: string | null;
  @ApiProperty({ type: 'integer', description: 'The newest event id when this list was read: pass it as GET /api/events?after= to follow from here' })
  event_cursor: number;
}

export class RunnerDetail extends RunnerSummary {
  @ApiProperty({ type: String, nullable: true }) runner_ip: string | null;
  @ApiProperty({ type: [String], description: 'Ids of its runs, newest first' }) runner_run: string[];
  @ApiProperty({ type: 'object', nullable: true, additionalProperties: true }) framework: Record<string, unknown> | null;
  @ApiProperty({ type: 'object', nullable: true, additionalProperties: true }) system: Record<string, unknown> | null;
  @ApiProperty({
    type: 'object',
    nullable: true,
    description: 'The maximum the runner declared (memory and disk in MiB); a part it did not declare is null (unlimited)',
    properties: { cpu: { type: 'integer', nullable: true }, memory: { type: 'integer', nullable: true }, disk: { type: 'integer', nullable: true } },
  })
  resources: { cpu: number | null; memory: number | null; disk: number | null } | null;
  @ApiProperty({ type: UsageDto, nullable: true }) usage: Record<string, unknown> | null;
  @ApiProperty({ format: 'date-time' }) registered_at: string;
  @ApiProperty({ type: [String], nullable: true, description: 'Takes runs of these namespaces only (its registration token\'s); null: any' })
  namespaces: string[] | null;
  @ApiProperty({ type: ContainerFactsDto, nullable: true, description: 'Its container engine, as last reported' })
  container: Record<string, unknown> | null;
  @ApiProperty({ enum: EXECUTORS, isArray: true, description: 'What it can run, as last reported' }) executors: string[];
  @ApiProperty({ type: String, nullable: true, description: 'Runs without an image run in this one' }) default_image: string | null;
}

export function runnerState(row: RunnerRow): 'waiting' | 'running' | 'dead' {
  if (row.state === 'dead' || row.deregistered_at) return 'dead';
  return row.current_run ? 'running' : 'waiting';
}

export function mapRunnerSummary(row: RunnerRow): RunnerSummary {
  return {
    runner_id: row.id,
    name: row.name,
    state: runnerState(row),
    enabled: row.enabled,
    current_run: row.current_run,
    labels: row.labels,
    last_heartbeat_at: row.last_heartbeat_at ? row.last_heartbeat_at.toISOString() : null,
    deregistered: row.deregistered_at !== null,
  };
}

export function mapRunnerDetail(row: RunnerRow, runIds: string[]): RunnerDetail {
  const hasResources = row.res_cpu !== null || row.res_memory !== null || row.res_disk !== null;
  return {
    ...mapRunnerSummary(row),
    runner_ip: row.ip,
    runner_run: runIds,
    framework: row.framework,
    system: row.system,
    // A part the runner did not declare is unlimited for dispatch: shown as null, not 0.
    resources: hasResources ? { cpu: row.res_cpu, memory: row.res_memory, disk: row.res_disk } : null,
    usage: row.usage,
    registered_at: row.registered_at.toISOString(),
    namespaces: row.namespaces,
    container: row.container,
    executors: row.executors ?? ['shell'],
    default_image: row.default_image,
  };
}

