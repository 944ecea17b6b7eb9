import { createLogger, redactUrl, scrubSecrets } from './logger';

describe('runner logger', () => {
  it('text: one logfmt line per event', () => {
    const lines: string[] = [];
    const logger = createLogger('info', (l) => lines.push(l));
    logger.debug('hidden');
    logger.info('run started', { run: 'abc', attempt: 1, note: 'two words', skip: undefined });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z INFO {2}run started run=abc attempt=1 note="two words"\n$/);
  });

  it('json: one JSON object per line, fields at the top level, reserved names kept apart', () => {
    const lines: string[] = [];
    const logger = createLogger('debug', (l) => lines.push(l), 'json');
    logger.warn('heartbeat failed; retrying', { error: 'ECONNRESET', attempt: 2, level: 'x', ok: false });
    logger.error('multi\nline "message"');
    expect(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n'))).toBe(true);
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toEqual({
      time: expect.stringMatching(/Z$/),
      level: 'warn',
      message: 'heartbeat failed; retrying',
      error: 'ECONNRESET',
      attempt: 2,
      field_level: 'x',
      ok: false,
    });
    expect(second).toMatchObject({ level: 'error', message: 'multi\nline "message"' });
  });

  it('never prints a token, a bearer credential or a url password, in either format', () => {
    for (const format of ['text', 'json'] as const) {
      const lines: string[] = [];
      const logger = createLogger('info', (l) => lines.push(l), format);
      logger.error('refused: Authorization: Bearer pulse_rt_abcdefghijklmnop', {
        token: 'pulse_rt_0123456789abcdef',
        repo: 'https://user:hunter2secret@git.example/x.git',
      });
      const out = lines.join('');
      expect(out).not.toMatch(/abcdefghijklmnop|0123456789abcdef|hunter2secret/);
      expect(out).toContain('pulse_rt_***');
    }
    expect(scrubSecrets('plain text, no secrets')).toBe('plain text, no secrets');
    expect(redactUrl('https://user:pw@git.example/x')).toBe('https://user:***@git.example/x');
  });
});
