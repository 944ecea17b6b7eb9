import {
  EMPTY_TEMPLATE,
  environmentLines,
  environmentNames,
  FieldError,
  instanceActions,
  type InstanceStatus,
  portList,
  portText,
  resources,
  resourcesText,
  templateBody,
} from './instances';

describe('instance helpers', () => {
  it('offers Start, Stop and Delete by what was asked and the status', () => {
    const table: Array<[state: 'RUNNING' | 'STOPPED' | 'DESTROYED', status: InstanceStatus, start: boolean, stop: boolean, del: boolean]> = [
      ['RUNNING', 'SCHEDULING', false, true, true],
      ['RUNNING', 'SCHEDULED', false, true, true],
      ['RUNNING', 'STARTING', false, true, true],
      ['RUNNING', 'RUNNING', false, true, true],
      ['RUNNING', 'CRASHED', false, true, true],
      ['RUNNING', 'FAILED', true, true, true],
      ['STOPPED', 'STOPPING', true, false, true],
      ['STOPPED', 'STOPPED', true, false, true],
      ['DESTROYED', 'DESTROYING', false, false, false],
      ['DESTROYED', 'TERMINATED', false, false, false],
    ];
    for (const [state, status, start, stop, del] of table) {
      expect([state, status, instanceActions({ state, status })]).toEqual([state, status, { start, stop, delete: del }]);
    }
  });

  it('says where a port is published', () => {
    expect(portText('10.0.0.5', '32768:8080')).toBe('10.0.0.5:32768 → 8080');
    expect(portText(null, '9000:80')).toBe('host 9000 → 80');
    expect(portText(null, '8080')).toBe('8080 (host port picked at start)');
    expect(portText('10.0.0.5', 'odd')).toBe('odd');
  });

  it('reads environment lines, keeping values as typed and naming a bad line', () => {
    expect(environmentLines('A=1\n\n# note\n  B=x = y \nC=\r\n')).toEqual(['A=1', 'B=x = y ', 'C=']);
    expect(() => environmentLines('A=1\nB = 2')).toThrow('Environment line 2');
    expect(() => environmentLines('A=1\nnope')).toThrow('Environment line 2');
    expect(() => environmentLines('1A=2')).toThrow(FieldError);
    try {
      environmentLines('=x');
    } catch (err) {
      expect((err as FieldError).field).toBe('environment');
    }
  });

  it('reads ports like the API: "8080" or "9000:8080", 1 to 65535, none twice', () => {
    expect(portList(' 8080, 9000:80  443 ')).toEqual(['8080', '9000:80', '443']);
    expect(portList('')).toEqual([]);
    expect(() => portList('http')).toThrow('"http" is not');
    expect(() => portList('70000')).toThrow('not a port');
    expect(() => portList('0')).toThrow('is not');
    expect(() => portList('80, 9000:80')).toThrow('container port 80 is listed twice');
    expect(() => portList('9000:80, 9000:81')).toThrow('host port 9000 is listed twice');
  });

  it('reads resources: whole numbers, empty ones left out', () => {
    expect(resources({ cpu: '', memory: '', disk: '' })).toBeUndefined();
    expect(resources({ cpu: '1', memory: ' 64 ', disk: '' })).toEqual({ cpu: 1, memory: 64 });
    expect(() => resources({ cpu: '1.5', memory: '', disk: '' })).toThrow('CPU cores');
    expect(() => resources({ cpu: '', memory: '-1', disk: '' })).toThrow('Memory (MiB)');
    expect(resourcesText({ cpu: 1, memory: 64, disk: 0 })).toBe('1 CPU, 64 MiB memory');
    expect(resourcesText({ cpu: 0, memory: 0, disk: 0 })).toBe('none claimed');
  });

  it('turns the form into a request body, leaving empty fields to the server', () => {
    expect(templateBody({ ...EMPTY_TEMPLATE, name: ' web ', uri: ' busybox:1.36 ' })).toEqual({ name: 'web', uri: 'busybox:1.36' });
    expect(
      templateBody({
        name: 'web',
        uri: 'busybox',
        command: 'httpd\n-f\n\n-p\n8080\n',
        environment: 'GREETING=hello world',
        ports: '8080',
        labels: 'linux, edge',
        cpu: '1',
        memory: '64',
        disk: '',
      }),
    ).toEqual({
      name: 'web',
      uri: 'busybox',
      command: ['httpd', '-f', '-p', '8080'],
      environment: ['GREETING=hello world'],
      ports: ['8080'],
      labels: ['linux', 'edge'],
      resources: { cpu: 1, memory: 64 },
    });
  });

  it('lists environment names, never values', () => {
    expect(environmentNames(['A=1', 'TOKEN=secret=x', 'odd'])).toEqual(['A', 'TOKEN', 'odd']);
  });
});
