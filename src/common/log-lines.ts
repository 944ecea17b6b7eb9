/**
 * The orchestrator's log lines without Nest: secrets masked, and the lines main.ts writes itself
 * (start-up) in the same format as the logger (LOG_FORMAT). Unit-tested on their own.
 */

/** Token-shaped strings, bearer credentials and URL passwords: masked in every log line. */
const PATTERNS: Array<[RegExp, string]> = [
  [/\b(pulse_[a-z]{2,4})_[A-Za-z0-9_-]{8,}/g, '$1_***'],
  [/\b(Bearer\s+)[^\s"',]+/gi, '$1***'],
  [/\b([a-z][a-z0-9+.-]*:\/\/[^:/@\s"']+:)[^@\s"']+@/gi, '$1***@'],
];

/** A function that masks the given secrets (exact values) and anything token-shaped in a string. */
export function secretScrubber(secrets: Array<string | undefined>): (text: string) => string {
  const exact = [...new Set(secrets.filter((s): s is string => typeof s === 'string' && s.length >= 8))].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const secret of exact) if (out.includes(secret)) out = out.split(secret).join('***');
    for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
    return out;
  };
}

const anyTokenMasked = secretScrubber([]);

/** One line in the orchestrator's log format, written directly (start-up lines shown at every LOG_LEVEL). */
export function formatLine(json: boolean, text: string, level: 'log' | 'error' = 'log', context = 'Pulse'): string {
  const message = anyTokenMasked(text);
  if (!json) return `${message}\n`;
  return `${JSON.stringify({ level, pid: process.pid, timestamp: Date.now(), message, context })}\n`;
}
