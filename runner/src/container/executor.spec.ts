import { PullLog, containerName } from './executor';

describe('PullLog', () => {
  it('writes layer state changes once each, never byte counts, at most 20 lines', () => {
    const lines: string[] = [];
    const log = new PullLog((line) => lines.push(line));
    log.add({ status: 'Pulling from library/debian', id: '12' });
    for (let i = 0; i < 50; i++) log.add({ status: 'Downloading', id: 'aaa', progress: `[${'='.repeat(i % 10)}>]` });
    log.add({ status: 'Pulling fs layer', id: 'aaa' });
    log.add({ status: 'Pulling fs layer', id: 'aaa' });
    log.add({ status: 'Extracting', id: 'aaa', progress: '[==>]' });
    log.add({ status: 'Pull complete', id: 'aaa' });
    log.add({ status: 'Digest: sha256:abc' });
    expect(lines).toEqual(['pull: 12: Pulling from library/debian', 'pull: aaa: Pulling fs layer', 'pull: aaa: Pull complete', 'pull: Digest: sha256:abc']);

    const many: string[] = [];
    const big = new PullLog((line) => many.push(line));
    for (let i = 0; i < 30; i++) big.add({ status: 'Pull complete', id: `layer-${i}` });
    expect(many).toHaveLength(20);
    expect(big.omitted).toBe(10);
  });

  it('names containers pulse-run-<run id>-<attempt>', () => {
    expect(containerName('0b5c2a56-6f5e-4a38-9d59-3c1f0e7b1a2d', 2)).toBe('pulse-run-0b5c2a56-6f5e-4a38-9d59-3c1f0e7b1a2d-2');
  });
});
