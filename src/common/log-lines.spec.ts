import { formatLine, secretScrubber } from './log-lines';

describe('log lines', () => {
  it('masks secrets given and anything token-shaped', () => {
    const scrub = secretScrubber(['admin-token-0123456789', 's3cr3t-password']);
    expect(scrub('admin-token-0123456789 postgresql://pulse:s3cr3t-password@db/pulse Bearer abc.def pulse_rt_abcdefghijkl')).toBe(
      '*** postgresql://pulse:***@db/pulse Bearer *** pulse_rt_***',
    );
  });

  it('formatLine: text as it is, or the same JSON shape; token-shaped strings masked', () => {
    expect(formatLine(false, 'pulse: listening on http://localhost:3000')).toBe('pulse: listening on http://localhost:3000\n');
    const line = JSON.parse(formatLine(true, 'pulse: listening on http://localhost:3000')) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'log', message: 'pulse: listening on http://localhost:3000', context: 'Pulse' });
    expect(formatLine(false, 'bad pulse_reg_abcdefghijkl')).toBe('bad pulse_reg_***\n');
    expect(secretScrubber(['x'])('x stays: too short to be a secret')).toBe('x stays: too short to be a secret');
  });
});
