/**
 * Runner specs: unit specs next to the code, run against a fake orchestrator over real HTTP.
 * From the repository root: `npx jest -c runner/jest.config.js`.
 * @type {import('jest').Config}
 */
module.exports = {
  displayName: 'runner',
  rootDir: __dirname,
  preset: 'ts-jest',
  testEnvironment: 'node',
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json' }],
  },
  // Specs spawn bash, git and the built CLI: a generous ceiling (set in a setup file because
  // testTimeout is not a per-project option when the root config runs this as a project).
  setupFilesAfterEnv: ['<rootDir>/src/test-support/timeout.ts'],
};
