import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import type { DatabaseTarget } from '../database/data-source-options';
import { DATABASE_TARGET } from '../database/database.tokens';

export class HealthResponse {
  @ApiProperty({ enum: ['ok', 'unavailable'] }) status: 'ok' | 'unavailable';
  @ApiProperty({ enum: ['up', 'down'] }) database: 'up' | 'down';
  @ApiProperty({ enum: ['embedded', 'postgres'] }) storage: 'embedded' | 'postgres';
}

/** Liveness and database readiness, no auth (SPEC section 3, operations). */
@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    @Inject(DATABASE_TARGET) private readonly target: DatabaseTarget,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Liveness and database readiness (no auth): 200 when the database answers, else 503', security: [] })
  @ApiOkResponse({ type: HealthResponse })
  @ApiServiceUnavailableResponse({ type: HealthResponse })
  async health(@Res() reply: FastifyReply): Promise<void> {
    const storage = this.target.embedded ? 'embedded' : 'postgres';
    let up: boolean;
    try {
      await Promise.race([
        this.db.query('SELECT 1'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 3000).unref()),
      ]);
      up = true;
    } catch {
      up = false;
    }
    const body: HealthResponse = { status: up ? 'ok' : 'unavailable', database: up ? 'up' : 'down', storage };
    void reply.status(up ? 200 : 503).header('cache-control', 'no-store').send(body);
  }
}
