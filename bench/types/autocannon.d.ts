/* eslint-disable @typescript-eslint/no-explicit-any -- a bench harness: untyped JSON bodies, IPC messages and autocannon's untyped API */
// autocannon ships no types; the bench drives it through its documented programmatic API.
declare module 'autocannon' {
  function autocannon(options: Record<string, unknown>): Promise<unknown> & { on(event: string, fn: (...args: any[]) => void): void };
  export default autocannon;
}
