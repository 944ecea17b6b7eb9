#!/usr/bin/env node
/**
 * `npm run demo`: a newcomer's first minute with Pulse, on this machine alone.
 *
 *   1. builds the orchestrator and the runner if dist/ is missing or older than the sources;
 *   2. starts the orchestrator on the embedded database (a temp DATA_DIR), on port 3000 or a
 *      free one, with fixed demo tokens;
 *   3. registers one local runner and starts it with --allow-local-repos;
 *   4. makes a small git repository in a temp dir and a namespace `demo` holding it;
 *   5. submits a batch of three runs over it (one of them fails on purpose);
 *   6. follows the first run's log live (GET /api/runs/{id}/logs?follow=1), prints the final
 *      states, the Swagger UI address and the admin token, and a few curl commands to try;
 *   7. keeps everything running until Ctrl-C, which stops the runner, then the orchestrator,
 *      and removes the temp dirs.
 *
 * Plain Node (no dependency, nothing to compile). The orchestrator's and the runner's own logs go
 * to files in the demo dir, so the terminal shows only what the demo is about.
 *
 * Environment: PORT (default 3000, else any free port), DEMO_KEEP=1 keeps the temp dir on exit.
 */
'use strict';

const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const MAIN = path.join(ROOT, 'dist/src/main.js');
const RUNNER = path.join(ROOT, 'runner/dist/cli.js');
const ADMIN_TOKEN = 'demo-admin-token-not-a-secret';
const REGISTRATION_TOKEN = 'demo-registration-token-not-a-secret';

const tty = process.stdout.isTTY;
const style = (code) => (text) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
const bold = style('1');
const dim = style('2');
const green = style('32');
const red = style('31');
const yellow = style('33');
const cyan = style('36');

const say = (line = '') => process.stdout.write(`${line}\n`);
const step = (text) => say(`${cyan('›')} ${text}`);

/** Children to stop on exit, in this order: the runner first, then the orchestrator. */
const children = { runner: undefined, pulse: undefined };
let demoDir;
let shuttingDown = false;

async function main() {
  buildIfNeeded();

  demoDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-demo-'));
  const dataDir = path.join(demoDir, 'data');
  const workDir = path.join(demoDir, 'work');
  fs.mkdirSync(workDir);
  const port = await choosePort();
  const base = `http://127.0.0.1:${port}`;

  say(bold('Pulse demo'));
  say(dim(`  everything lives in ${demoDir} (removed on exit)`));
  say();

  step(`starting the orchestrator on ${base} (embedded database in ${dataDir})`);
  children.pulse = spawnLogged('orchestrator', process.execPath, [MAIN], {
    ...cleanEnv(),
    HOST: '127.0.0.1',
    PORT: String(port),
    DATA_DIR: dataDir,
    ADMIN_TOKEN,
    RUNNER_REGISTRATION_TOKEN: REGISTRATION_TOKEN,
    HEARTBEAT_INTERVAL: '2',
    LONG_POLL_MAX: '20',
    RUNNER_DEAD_AFTER: '30',
    NO_COLOR: '1',
  });
  await waitForHealth(base, children.pulse);

  step('registering a runner and starting it (pulse-runner register, then start --allow-local-repos)');
  const configPath = path.join(demoDir, 'runner', 'config.json');
  const registered = spawnSync(
    process.execPath,
    [RUNNER, 'register', '--url', base, '--name', 'demo-runner', '--labels', 'demo', '--config', configPath, '--work-dir', workDir],
    { env: { ...cleanEnv(), PULSE_REGISTRATION_TOKEN: REGISTRATION_TOKEN }, encoding: 'utf8' },
  );
  if (registered.status !== 0) throw new Error(`pulse-runner register failed:\n${registered.stdout}${registered.stderr}`);
  say(dim(`  ${registered.stdout.trim()}`));
  children.runner = spawnLogged('runner', process.execPath, [RUNNER, 'start', '--config', configPath, '--work-dir', workDir, '--allow-local-repos'], cleanEnv());

  step('making a small git repository');
  const repo = makeRepository(path.join(demoDir, 'hello-repo'));
  say(dim(`  ${repo}`));

  step('creating the namespace "demo" with it (PUT /api/namespaces)');
  await api(base, 'PUT', '/api/namespaces', { namespace_name: 'demo', repositories: [repo] });

  step('submitting a batch of three runs (POST /api/runs)');
  const submission = await api(base, 'POST', '/api/runs', {
    namespace: 'demo',
    repos: [repo],
    script: [
      'echo "run $PULSE_RUN_ID, attempt $PULSE_ATTEMPT, flavour $FLAVOUR"',
      'echo "checked out: $(ls | tr "\\n" " ")"',
      'for i in 1 2 3; do echo "working... step $i/3"; sleep 1; done',
      'echo "this line goes to stderr" >&2',
      './test.sh',
    ],
    jobs: [{ env: { FLAVOUR: 'vanilla' } }, { env: { FLAVOUR: 'chocolate' } }, { env: { FLAVOUR: 'broken' } }],
    timeout: 120,
  });
  const runs = submission.runs;
  say(dim(`  batch ${submission.batch_id}: runs ${runs.join(', ')}`));
  say();

  say(bold(`Following the log of run ${runs[0]} live (GET /api/runs/${runs[0]}/logs?follow=1):`));
  await followLog(base, runs[0], (text) => process.stdout.write(text));
  say();

  step('waiting for the other runs of the batch');
  const finals = await Promise.all(runs.map((id) => waitForFinal(base, id)));
  say();
  say(bold('Final states:'));
  for (const run of finals) {
    const color = run.state === 'finished' ? green : run.state === 'failed' ? red : yellow;
    say(`  ${run.id}  ${color(run.state.padEnd(8))}  exit code ${run.exit_code ?? '-'}  log ${run.logs} bytes`);
  }
  say();
  say(bold('Pulse keeps running. Try it:'));
  say(`  dashboard     ${cyan(`${base}/`)}  (sign in with the admin token; submit runs, watch them live)`);
  say(`  Swagger UI    ${cyan(`${base}/api/docs`)}  (Authorize with the admin token)`);
  say(`  admin token   ${ADMIN_TOKEN}`);
  say(`  runs          curl -H 'Authorization: Bearer ${ADMIN_TOKEN}' ${base}/api/runs`);
  say(`  a run's log   curl -H 'Authorization: Bearer ${ADMIN_TOKEN}' '${base}/api/runs/${runs[2]}/logs'`);
  say(`  submit more   curl -H 'Authorization: Bearer ${ADMIN_TOKEN}' -H 'Content-Type: application/json' \\`);
  say(`                  -d '{"namespace":"demo","script":["echo hello from $PULSE_RUN_ID"]}' ${base}/api/runs`);
  say(`  own logs      ${path.join(demoDir, 'orchestrator.log')}, ${path.join(demoDir, 'runner.log')}`);
  say();
  say(bold('Press Ctrl-C to stop the runner and the orchestrator.'));
}

/** `npm run build` when a built entry point is missing or older than its sources. */
function buildIfNeeded() {
  const stale = [
    [MAIN, [path.join(ROOT, 'src')]],
    [RUNNER, [path.join(ROOT, 'runner/src')]],
    [path.join(ROOT, 'dist/web/index.html'), [path.join(ROOT, 'web/src')]],
  ].some(([built, sources]) => !fs.existsSync(built) || newestMtime(sources) > fs.statSync(built).mtimeMs);
  if (!stale) return;
  step('building (npm run build)');
  const result = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (result.status !== 0) throw new Error('npm run build failed');
}

function newestMtime(dirs) {
  let newest = 0;
  const visit = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (/\.(ts|tsx|css)$/.test(entry.name) && !entry.name.endsWith('.spec.ts')) newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  };
  for (const dir of dirs) if (fs.existsSync(dir)) visit(dir);
  return newest;
}

/** PORT if given, else 3000 if free, else any free port. */
async function choosePort() {
  if (process.env.PORT) return Number(process.env.PORT);
  return (await portIsFree(3000)) ? 3000 : await portIsFree(0);
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => {
      const chosen = server.address().port;
      server.close(() => resolve(chosen));
    });
  });
}

/** The demo's own environment without anything that would point Pulse elsewhere. */
function cleanEnv() {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name === 'DATABASE_URL' || name.startsWith('PULSE_') || name === 'PORT' || name === 'DATA_DIR') delete env[name];
    if (/^(ADMIN_TOKEN|RUNNER_REGISTRATION_TOKEN|TLS_CERT|TLS_KEY)$/.test(name)) delete env[name];
  }
  return env;
}

/** Starts a child in its own process group (Ctrl-C reaches only the demo), output to <name>.log. */
function spawnLogged(name, command, args, env) {
  const logFile = path.join(demoDir, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { env, stdio: ['ignore', fd, fd], detached: true });
  fs.closeSync(fd);
  child.logFile = logFile;
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  child.exited.then((code) => {
    if (!shuttingDown) {
      process.stderr.write(red(`\nthe ${name} exited unexpectedly (${code}); its log:\n`) + tail(logFile));
      void shutdown(1);
    }
  });
  return child;
}

function tail(file) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-20).join('\n') + '\n';
  } catch {
    return '';
  }
}

async function waitForHealth(base, child) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the orchestrator exited:\n${tail(child.logFile)}`);
    try {
      const res = await request(base, 'GET', '/api/health');
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`the orchestrator did not answer within 2 minutes:\n${tail(child.logFile)}`);
}

/** A git repository with a README and a test script that fails for the "broken" flavour. */
function makeRepository(dir) {
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'README.md'), '# hello-repo\n\nA repository made by `npm run demo`.\n');
  fs.writeFileSync(
    path.join(dir, 'test.sh'),
    [
      '#!/usr/bin/env bash',
      'echo "testing the $FLAVOUR flavour"',
      'if [ "$FLAVOUR" = broken ]; then echo "test failed: this flavour is broken" >&2; exit 3; fi',
      'echo "all tests passed"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'Pulse Demo',
    GIT_AUTHOR_EMAIL: 'demo@example.com',
    GIT_COMMITTER_NAME: 'Pulse Demo',
    GIT_COMMITTER_EMAIL: 'demo@example.com',
  };
  const git = (...args) => execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'commit.gpgsign=false', ...args], { cwd: dir, env, stdio: 'ignore' });
  git('init', '--quiet');
  git('add', '--all');
  git('commit', '--quiet', '-m', 'hello');
  return dir;
}

/** One admin API call; throws on a non-2xx answer. */
async function api(base, method, route, body) {
  const res = await request(base, method, route, body);
  if (res.status < 200 || res.status > 299) throw new Error(`${method} ${route}: ${res.status} ${res.text}`);
  return res.text ? JSON.parse(res.text) : undefined;
}

function request(base, method, route, body) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(new URL(route, base), {
      method,
      headers: {
        Authorization: `Bearer ${ADMIN_TOKEN}`,
        ...(payload && { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
      },
    });
    req.setTimeout(30_000, () => req.destroy(new Error('timed out')));
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.once('error', reject);
    });
    req.end(payload);
  });
}

/** Streams GET /api/runs/{id}/logs?follow=1 to `write`, each line indented, until the run is final. */
function followLog(base, id, write) {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL(`/api/runs/${id}/logs?follow=1`, base), { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
    req.once('error', reject);
    req.once('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET /api/runs/${id}/logs?follow=1: ${res.statusCode}`));
        res.resume();
        return;
      }
      let atLineStart = true;
      res.setEncoding('utf8');
      res.on('data', (text) => {
        let out = '';
        for (const ch of text) {
          if (atLineStart) out += dim('  │ ');
          out += ch;
          atLineStart = ch === '\n';
        }
        write(out);
      });
      res.once('end', () => {
        if (!atLineStart) write('\n');
        resolve();
      });
      res.once('error', reject);
    });
  });
}

async function waitForFinal(base, id) {
  for (;;) {
    const run = await api(base, 'GET', `/api/runs/${id}`);
    if (['finished', 'failed', 'timeout', 'canceled'].includes(run.state)) return run;
    await sleep(500);
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Stops the runner (it finishes nothing: the demo's runs are done), then the orchestrator. */
async function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true;
  say();
  for (const name of ['runner', 'pulse']) {
    const child = children[name];
    if (!child || child.exitCode !== null || child.signalCode !== null) continue;
    step(`stopping the ${name === 'pulse' ? 'orchestrator' : 'runner'}`);
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await child.exited;
    clearTimeout(timer);
  }
  if (demoDir && process.env.DEMO_KEEP !== '1') fs.rmSync(demoDir, { recursive: true, force: true });
  else if (demoDir) say(dim(`kept ${demoDir}`));
  say(code === 0 ? 'stopped; bye.' : 'stopped.');
  process.exit(code);
}

// Ctrl-C under `npm run demo` arrives twice at once: from the terminal, and forwarded by npm.
// Only a signal well after the first one means "stop waiting, kill everything now".
let firstInterrupt = 0;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (!firstInterrupt) {
      firstInterrupt = Date.now();
      void shutdown(0);
    } else if (Date.now() - firstInterrupt > 2000) {
      for (const child of Object.values(children)) if (child && child.exitCode === null) child.kill('SIGKILL');
      process.exit(1);
    }
  });
}
// The demo dies some other way: leave no orchestrator or runner behind.
process.on('exit', () => {
  for (const child of Object.values(children)) if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

main().catch((err) => {
  process.stderr.write(`${red('demo failed:')} ${err instanceof Error ? err.message : String(err)}\n`);
  void shutdown(1);
});
