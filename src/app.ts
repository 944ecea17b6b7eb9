import { Logger, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { readFileSync } from 'node:fs';
import { AppModule } from './app.module';
import { DomainErrorFilter } from './common/error.filter';
import { QuietLogger } from './common/quiet-logger';
import { acceptEmptyJsonBodies } from './common/json-bodies';
import { validationPipe } from './common/validation';
import type { PulseConfig } from './config/config';
import type { DatabaseTarget } from './database/data-source-options';
import { EmbeddedPostgres, startEmbeddedPostgres } from './database/embedded';
import { runMigrations } from './database/migrate';
import { serveDashboard } from './web/dashboard';

export interface PulseApp {
  app: NestFastifyApplication;
  target: DatabaseTarget;
  /** Closes the app (answering long polls first), then the embedded database if there is one. */
  close(): Promise<void>;
}

export interface CreateAppOptions {
  /** Embedded database in memory instead of under DATA_DIR (tests). */
  inMemory?: boolean;
  logger?: false | LogLevel[];
}

const LEVELS: Record<PulseConfig['logLevel'], LogLevel[]> = {
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  log: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
};

/**
 * Builds the whole orchestrator: storage (PostgreSQL at DATABASE_URL, else the embedded one),
 * migrations, the Nest app on Fastify, validation, the error filter and Swagger. `main.ts` and
 * the e2e tests both use it, so tests run exactly what production runs.
 */
export async function createApp(config: PulseConfig, options: CreateAppOptions = {}): Promise<PulseApp> {
  const logger =
    options.logger === false
      ? false
      : new QuietLogger({
          logLevels: options.logger ?? LEVELS[config.logLevel],
          json: config.logFormat === 'json',
          secrets: [config.adminToken, config.registrationToken, passwordOf(config.databaseUrl)],
        });
  Logger.overrideLogger(logger);
  let embedded: EmbeddedPostgres | undefined;
  let target: DatabaseTarget;
  if (config.databaseUrl) {
    target = { url: config.databaseUrl, embedded: false, poolSize: config.dbPoolSize };
  } else {
    embedded = await startEmbeddedPostgres(options.inMemory ? undefined : config.dataDir);
    target = { url: embedded.url, embedded: true };
  }
  try {
    await runMigrations(target);
    const https = config.tlsCert && config.tlsKey
      ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }
      : undefined;
    const adapter = new FastifyAdapter({
      bodyLimit: config.bodyLimitBytes,
      trustProxy: true,
      ...(https && { https }),
    });
    const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, target), adapter, {
      logger,
    });
    acceptEmptyJsonBodies(app, config.bodyLimitBytes);
    configureApp(app);
    await serveDashboard(app);
    await app.init();
    return {
      app,
      target,
      async close() {
        await app.close();
        await embedded?.close();
      },
    };
  } catch (err) {
    await embedded?.close().catch(() => undefined);
    throw err;
  }
}

function passwordOf(url: string | undefined): string | undefined {
  try {
    return url ? decodeURIComponent(new URL(url).password) || undefined : undefined;
  } catch {
    return undefined;
  }
}

/** Prefix, validation, errors and the OpenAPI document: everything a route shares. */
export function configureApp(app: NestFastifyApplication): void {
  app.setGlobalPrefix('api', { exclude: ['metrics'] });
  app.useGlobalPipes(validationPipe());
  app.useGlobalFilters(new DomainErrorFilter());

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Pulse')
      .setDescription(
        'CI job orchestrator for runners behind NAT. Runners poll (`/api/runner/*`, runner token); ' +
          'users and admins use the rest with an API token (`pulse_pat_…`) or ADMIN_TOKEN. Each route ' +
          'names the scope it needs in `x-pulse-scope` (read, write or admin). See docs/protocol.md.',
      )
      .setVersion('0.1.0')
      .addServer('/')
      .addBearerAuth(
        { type: 'http', scheme: 'bearer', description: 'An API token (pulse_pat_…, scopes read/write/admin) or ADMIN_TOKEN' },
        'token',
      )
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A runner token (pulse_rt_…)' }, 'runner')
      .build(),
  );
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs-json' });
}
