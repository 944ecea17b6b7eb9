/**
 * `npm test` runs every project: the runner's specs, the orchestrator's unit specs, and the e2e
 * suites twice, on the embedded database (PGlite) and on real PostgreSQL (TEST_DATABASE_URL,
 * default the local server). E2e suites start the built orchestrator (dist/) as a real process
 * per test file, each with its own database, and talk to it over HTTP.
 * @type {import('jest').Config}
 */
const tsJest = ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }];

const e2e = (database) => ({
  displayName: `e2e-${database}`,
  rootDir: __dirname,
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'],
  transform: { '^.+\\.ts$': tsJest },
  setupFiles: [`<rootDir>/test/support/use-${database}.ts`],
  ...(database === 'embedded' && { globalSetup: '<rootDir>/test/support/embedded-template.js' }),
});

module.exports = {
  testTimeout: 60000,
  maxWorkers: 2,
  projects: [
    '<rootDir>/runner/jest.config.js',
    {
      displayName: 'unit',
      rootDir: __dirname,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/src/**/*.spec.ts'],
      transform: { '^.+\\.ts$': tsJest },
    },
    {
      // The dashboard's pure parts (web/src): ANSI parser, log line buffer, SSE framing, feed client.
      displayName: 'web',
      rootDir: __dirname,
      testEnvironment: 'node',
      testMatch: ['<rootDir>/web/src/**/*.spec.ts'],
      transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/web/tsconfig.spec.json' }] },
    },
    e2e('embedded'),
    e2e('postgres'),
  ],
};
