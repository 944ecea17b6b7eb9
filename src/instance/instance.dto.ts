import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, IsUUID, Matches } from 'class-validator';
import { NAME_PATTERN } from '../common/validation';
import { ResourcesResponse, TemplateFields, TemplateRow, WorkloadListQuery, WORKLOAD_TYPES } from '../workload/workload.dto';
import { type Desired, INSTANCE_STATUSES, type InstanceStatus, type Reported } from './instance-status';

export class PutInstanceRequest extends TemplateFields {
  @ApiPropertyOptional({ format: 'uuid', description: "Copy this workload's fields (inline fields given beside it override them)" })
  @IsOptional()
  @IsUUID('all', { message: 'workload_id must be a UUID' })
  workload_id?: string;

  @ApiPropertyOptional({ example: 'web-1', description: "Defaults to the workload's name" })
  @IsOptional()
  @IsString()
  @Matches(NAME_PATTERN, { message: 'name must be 1 to 63 letters, digits, ".", "_" or "-"' })
  name?: string;
}

export class PatchInstanceRequest extends TemplateFields {
  @ApiPropertyOptional({ enum: ['RUNNING', 'STOPPED'], description: 'Start or stop it (RUNNING also retries a FAILED one)' })
  @IsOptional()
  @IsIn(['RUNNING', 'STOPPED'], { message: 'state must be RUNNING or STOPPED' })
  state?: 'RUNNING' | 'STOPPED';

  @ApiPropertyOptional({ example: 'web-1' })
  @IsOptional()
  @IsString()
  @Matches(NAME_PATTERN, { message: 'name must be 1 to 63 letters, digits, ".", "_" or "-"' })
  name?: string;
}

export class InstanceListQuery extends WorkloadListQuery {
  @ApiPropertyOptional({ enum: INSTANCE_STATUSES, description: 'Only instances with this status' })
  @IsOptional()
  @IsIn(INSTANCE_STATUSES, { message: `state must be one of ${INSTANCE_STATUSES.join(', ')}` })
  state?: InstanceStatus;

  @ApiPropertyOptional({ format: 'uuid', description: 'Only the instances this runner holds (placed on it and not TERMINATED)' })
  @IsOptional()
  @IsUUID('all', { message: 'runner must be a UUID' })
  runner?: string;
}

export class InstanceResponse {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: WORKLOAD_TYPES }) type: string;
  @ApiProperty({ enum: INSTANCE_STATUSES }) status: InstanceStatus;
  @ApiProperty({ enum: ['RUNNING', 'STOPPED', 'DESTROYED'], description: 'What was asked (the status is read against it)' })
  state: Desired;
  @ApiProperty({ description: 'The latest why' }) description: string;
  @ApiProperty() uri: string;
  @ApiPropertyOptional({ type: [String] }) command?: string[];
  @ApiProperty({ type: [String] }) environment: string[];
  @ApiProperty({ type: ResourcesResponse }) resources: ResourcesResponse;
  @ApiProperty({ type: [String], description: 'As published ("32768:8080") once its runner reported them; else as asked' })
  ports: string[];
  @ApiProperty({ type: [String] }) labels: string[];
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) workload_id: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'uuid' }) runner_id: string | null;
  @ApiProperty({ type: String, nullable: true, description: "The runner's address" }) ip: string | null;
  @ApiProperty({ description: 'Restarts after crashes done by its runner' }) restarts: number;
  @ApiProperty({ type: String, nullable: true, description: 'Why it is SCHEDULING' }) pending_reason: string | null;
  @ApiProperty({ format: 'date-time' }) created_at: string;
  @ApiProperty({ format: 'date-time' }) updated_at: string;
}

export class InstancePage {
  @ApiProperty({ type: [InstanceResponse] }) items: InstanceResponse[];
  @ApiProperty({ type: String, nullable: true }) next_cursor: string | null;
}

export interface InstanceRow extends TemplateRow {
  workload_id: string | null;
  desired: Desired;
  reported: Reported | null;
  status: InstanceStatus;
  generation: number;
  runner_id: string | null;
  ip: string | null;
  published: string[];
  restarts: number;
  description: string;
  pending_reason: string | null;
}

export function mapInstance(row: InstanceRow): InstanceResponse {
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    status: row.status,
    state: row.desired,
    description: row.description,
    uri: row.uri,
    ...(row.command !== null && { command: row.command }),
    environment: row.environment,
    resources: { cpu: row.res_cpu, memory: row.res_memory, disk: row.res_disk },
    ports: row.published.length > 0 ? row.published : row.ports,
    labels: row.labels,
    workload_id: row.workload_id,
    runner_id: row.runner_id,
    ip: row.ip,
    restarts: row.restarts,
    pending_reason: row.pending_reason,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
