import { statSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError, baseEnvironment, defaultConfigPath, loadConfig, resolveRegister, resolveStart, saveConfig, type StoredConfig } from './config';
import { cleanTempDirs, tempDir } from './test-support/helpers';

afterAll(cleanTempDirs);

const stored: StoredConfig = { url: 'https://ci.example.com', runnerId: 'r-1', runnerToken: 'pulse_rt_secret' };

describe('config', () => {
  it('puts the config in the XDG config dir, else ~/.config', () => {
    expect(defaultConfigPath({ XDG_CONFIG_HOME: '/x/conf', HOME: '/home/a' })).toBe('/x/conf/pulse-runner/config.json');
    expect(defaultConfigPath({ HOME: '/home/a' })).toBe('/home/a/.config/pulse-runner/config.json');
    expect(defaultConfigPath({ XDG_CONFIG_HOME: 'relative', HOME: '/home/a' })).toBe('/home/a/.config/pulse-runner/config.json');
  });

  it('takes flags over environment variables over defaults', () => {
    const env = { PULSE_URL: 'https://env.example/', PULSE_REGISTRATION_TOKEN: 'from-env', PULSE_RUNNER_LABELS: 'a,,b ', HOME: '/h' };
    const fromEnv = resolveRegister({}, env);
    expect(fromEnv).toMatchObject({ url: 'https://env.example', registrationToken: 'from-env', labels: ['a', 'b'], configPath: '/h/.config/pulse-runner/config.json' });
    const fromFlags = resolveRegister({ url: 'https://flag.example', labels: 'x' }, env);
    expect(fromFlags).toMatchObject({ url: 'https://flag.example', labels: ['x'] });
  });

  it('names the flag and its variable in every validation error', () => {
    expect(() => resolveRegister({ url: 'https://x' }, {})).toThrow(/--registration-token \(or PULSE_REGISTRATION_TOKEN\)/);
    expect(() => resolveRegister({ 'registration-token': 't' }, {})).toThrow(/--url \(or PULSE_URL\)/);
    expect(() => resolveRegister({ url: 'ftp://x', 'registration-token': 't' }, {})).toThrow(UsageError);
    expect(() => resolveRegister({ url: 'https://x', 'registration-token': 't', cpu: '0' }, {})).toThrow(/--cpu/);
    expect(() => resolveStart({ wait: 'soon' }, {}, stored)).toThrow(/--wait \(or PULSE_RUNNER_WAIT\)/);
    expect(() => resolveStart({}, { PULSE_RUNNER_ALLOW_LOCAL_REPOS: 'maybe' }, stored)).toThrow(/PULSE_RUNNER_ALLOW_LOCAL_REPOS/);
    expect(() => resolveStart({ 'ca-file': '/nonexistent.pem' }, {}, stored)).toThrow(/--ca-file.*ENOENT/);
  });

  it('reads start settings with their defaults', () => {
    const settings = resolveStart({}, { PULSE_RUNNER_ALLOW_LOCAL_REPOS: 'true', HTTPS_PROXY: 'http://p:3128' }, stored);
    expect(settings).toMatchObject({ allowLocalRepos: true, waitSeconds: 20, killGraceMs: 10_000, requestTimeoutMs: 30_000, proxy: { httpsProxy: 'http://p:3128' } });
  });

  it('reads the container settings: engine, executors, default image, pull policy, network', () => {
    expect(resolveStart({}, {}, stored)).toMatchObject({ containers: { engine: 'auto', executors: undefined }, pullPolicy: 'if-not-present' });
    const env = { PULSE_CONTAINER_ENGINE: 'unix:///run/podman/podman.sock', PULSE_RUNNER_EXECUTORS: 'container, shell', DOCKER_HOST: 'unix:///x.sock' };
    expect(resolveStart({ 'default-image': 'localhost/pulse-test:bash', 'pull-policy': 'never', 'container-network': 'none' }, env, stored)).toMatchObject({
      containers: { engine: 'unix:///run/podman/podman.sock', executors: ['container', 'shell'], defaultImage: 'localhost/pulse-test:bash', dockerHost: 'unix:///x.sock' },
      pullPolicy: 'never',
      containerNetwork: 'none',
    });
    expect(() => resolveStart({ 'container-engine': 'tcp://1.2.3.4:2375' }, {}, stored)).toThrow(/--container-engine \(or PULSE_CONTAINER_ENGINE\)/);
    expect(() => resolveStart({ executors: 'shell,vm' }, {}, stored)).toThrow(/--executors/);
    expect(() => resolveStart({ 'default-image': 'Not An Image' }, {}, stored)).toThrow(/--default-image/);
    expect(() => resolveStart({ 'pull-policy': 'sometimes' }, {}, stored)).toThrow(/--pull-policy/);
    expect(() => resolveStart({ 'container-network': '--privileged' }, {}, stored)).toThrow(/--container-network/);
  });

  it('builds the script base environment from a few variables only', () => {
    const base = baseEnvironment({ PATH: '/bin', HOME: '/home/r', USER: 'r', LANG: 'en_US.UTF-8', PULSE_REGISTRATION_TOKEN: 'x', AWS_SECRET_ACCESS_KEY: 'y' });
    expect(base).toEqual({ PATH: '/bin', HOME: '/home/r', USER: 'r', LOGNAME: 'r', LANG: 'en_US.UTF-8', SHELL: 'bash' });
  });

  it('saves the config with mode 0600 and reads it back', async () => {
    const path = join(tempDir(), 'deep', 'config.json');
    await saveConfig(path, stored);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await loadConfig(path)).toMatchObject(stored);
  });
});
