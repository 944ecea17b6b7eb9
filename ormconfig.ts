/**
 * The TypeORM CLI's data source (`npm run migration:run`, `typeorm migration:show -d dist/ormconfig.js`),
 * built from the same configuration and options as the app. The CLI needs a real PostgreSQL:
 * the embedded database lives inside a running orchestrator, which migrates it at start-up.
 */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/config';
import { dataSourceOptions } from './src/database/data-source-options';

const { config } = loadConfig(process.env);
if (!config.databaseUrl) {
  throw new Error('Set DATABASE_URL: the TypeORM CLI works on a real PostgreSQL (the embedded one migrates itself at start-up)');
}

export default new DataSource(dataSourceOptions({ url: config.databaseUrl, embedded: false }));
