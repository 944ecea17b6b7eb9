/**
 * Global setup of the e2e-embedded project: one cold start of the embedded database (initdb in
 * WebAssembly takes seconds, tens of seconds on a loaded machine) made once per test run, with
 * the migrations applied. Each test file's orchestrator then starts from a copy of it
 * (test/support/pulse.ts), which opens in well under a second. Production never uses this.
 */
const { spawn } = require('node:child_process');
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

module.exports = async function createEmbeddedTemplate() {
  const dataDir = mkdtempSync(join(tmpdir(), 'pulse-template-'));
  const child = spawn(process.execPath, [resolve(__dirname, '../../dist/src/main.js')], {
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: '0',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      ADMIN_TOKEN: 'template-admin-token-0123456789',
      RUNNER_REGISTRATION_TOKEN: 'template-registration-token-0123',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise((done, fail) => {
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('pulse: listening on')) done();
    });
    child.stderr.on('data', (c) => (out += c));
    child.on('exit', (code) => fail(new Error(`template orchestrator exited with ${code}:\n${out}`)));
  });
  child.removeAllListeners('exit');
  await new Promise((done) => {
    child.on('exit', done);
    child.kill('SIGTERM');
  });
  process.env.PULSE_EMBEDDED_TEMPLATE = join(dataDir, 'pgdata');
};
