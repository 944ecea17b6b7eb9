import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min } from 'class-validator';
import { NoNul } from '../common/validators';
import { ResourcesResponse } from '../workload/workload.dto';
import { REPORTED_STATUSES, type Reported } from './instance-status';

/** One instance a runner holds, in a heartbeat request (SPEC section 10). */
export class InstanceReportDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID('all', { message: 'instances[].id must be a UUID' })
  id: string;

  @ApiProperty({ enum: REPORTED_STATUSES })
  @IsIn(REPORTED_STATUSES, { message: `instances[].status must be one of ${REPORTED_STATUSES.join(', ')}` })
  status: Reported;

  @ApiPropertyOptional({ description: 'Why (an exit code, an engine error)' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  @NoNul()
  description?: string;

  @ApiPropertyOptional({ description: "The runner host's address the published ports are on" })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  @Matches(/^[0-9A-Za-z.:%-]+$/, { message: 'instances[].ip must be an address' })
  ip?: string;

  @ApiPropertyOptional({ type: [String], example: ['32768:8080'], description: 'As published: "host:container"' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @Matches(/^\d{1,5}:\d{1,5}$/, { each: true, message: 'instances[].ports entries must look like "32768:8080"' })
  ports?: string[];

  @ApiPropertyOptional({ description: 'Restarts after crashes done so far' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000000)
  restarts?: number;

  @ApiPropertyOptional({ description: 'The `generation` of the desired entry it runs (a report of an older one is ignored)' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(2147483647)
  generation?: number;
}

/** One entry of the whole desired list in a heartbeat response. */
export class DesiredInstanceDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() name: string;
  @ApiProperty({ description: 'The image' }) uri: string;
  @ApiPropertyOptional({ type: [String] }) command?: string[];
  @ApiProperty({ type: [String], description: '"NAME=value"' }) environment: string[];
  @ApiProperty({ type: ResourcesResponse, description: 'Container limits' }) resources: ResourcesResponse;
  @ApiProperty({ type: [String], description: '"8080" or "9000:8080"' }) ports: string[];
  @ApiProperty({ enum: ['RUNNING', 'STOPPED'] }) state: 'RUNNING' | 'STOPPED';
  @ApiProperty({ description: 'Grows when the container must be made again: recreate it when it differs from the one you run' })
  generation: number;
}
