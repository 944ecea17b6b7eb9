import { capabilitiesOf } from './capabilities';

describe('capabilitiesOf', () => {
  const healthy = { engine: 'podman', version: '4.3.1', apiVersion: '1.41', os: 'linux', arch: 'amd64', healthy: true };
  const cases: Array<[string, Parameters<typeof capabilitiesOf>[0], boolean, boolean]> = [
    ['nothing reported: shell only', {}, true, false],
    ['shell and a healthy engine', { executors: ['shell', 'container'], container: healthy }, true, true],
    ['container executor, engine down', { executors: ['shell', 'container'], container: { ...healthy, healthy: false } }, true, false],
    ['container executor without engine facts', { executors: ['container'] }, false, false],
    ['container only', { executors: ['container'], container: healthy }, false, true],
    ['default image on a healthy engine', { executors: ['container'], container: healthy, defaultImage: 'debian:12' }, true, true],
    ['default image, engine down', { executors: ['shell', 'container'], container: { ...healthy, healthy: false }, defaultImage: 'debian:12' }, false, false],
    ['shell only, engine present', { executors: ['shell'], container: healthy }, true, false],
  ];
  it.each(cases)('%s', (_name, reported, canShell, canContainer) => {
    const caps = capabilitiesOf(reported);
    expect({ canShell: caps.canShell, canContainer: caps.canContainer }).toEqual({ canShell, canContainer });
  });
});
