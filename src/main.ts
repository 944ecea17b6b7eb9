import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app';
import { formatLine } from './common/log-lines';
import { ConfigError, loadConfig } from './config/config';

/**
 * Starts the orchestrator. A bad configuration stops start-up with a message naming the variable;
 * tokens generated on the first start are printed here, once, and never logged again.
 */
async function main(): Promise<void> {
  const logger = new Logger('Pulse');
  let loaded;
  try {
    loaded = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(formatLine(process.env.LOG_FORMAT === 'json', `pulse: configuration error: ${err.message}`, 'error'));
      process.exit(2);
    }
    throw err;
  }
  const { config, generated } = loaded;
  const json = config.logFormat === 'json';
  const pulse = await createApp(config);
  // A deep accept queue: a fleet reconnecting at once (after a restart) queues instead of being reset.
  await pulse.app.listen({ port: config.port, host: config.host, backlog: 4096 });
  const scheme = config.tlsCert ? 'https' : 'http';
  const shown = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const address = pulse.app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const base = `${scheme}://${shown}:${port}`;
  if (json && (generated.adminToken || generated.registrationToken)) {
    // A log shipper gets no secret: the tokens are in the file, readable by this user only.
    process.stdout.write(
      formatLine(true, `pulse: first start: tokens were generated and stored in ${config.dataDir}/secrets.json (mode 0600); read them there`),
    );
  } else if (generated.adminToken || generated.registrationToken) {
    const lines = [
      '',
      '  First start: tokens were generated and stored in ' + `${config.dataDir}/secrets.json (mode 0600).`,
      '  They are printed this once:',
      ...(generated.adminToken ? [`    ADMIN_TOKEN=${generated.adminToken}`] : []),
      ...(generated.registrationToken ? [`    RUNNER_REGISTRATION_TOKEN=${generated.registrationToken}`] : []),
      '',
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
  if (generated.secretsKeyFile) {
    process.stdout.write(
      formatLine(
        json,
        `pulse: generated the key that encrypts secrets in ${generated.secretsKeyFile} (mode 0600): back it up; ` +
          'without it, stored secrets cannot be read (or set SECRETS_KEYS, see docs/operations.md)',
      ),
    );
  }

  // Written directly (not through the logger) so it shows at every LOG_LEVEL: scripts wait for it.
  const storage = pulse.target.embedded ? `embedded PostgreSQL in ${config.dataDir}` : 'PostgreSQL at DATABASE_URL';
  process.stdout.write(formatLine(json, `pulse: listening on ${base} (storage: ${storage}); Swagger UI: ${base}/api/docs`));
  process.stdout.write(formatLine(json, `pulse: dashboard at ${base}/ (sign in with the admin token)`));
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    logger.log(`${signal}: answering long polls and closing`);
    pulse.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error(`shutdown failed: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(formatLine(process.env.LOG_FORMAT === 'json', `pulse: cannot start: ${err instanceof Error ? err.message : String(err)}`, 'error'));
  process.exit(1);
});
