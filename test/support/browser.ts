import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS } from '../../bench/lib/browser';

export { CHROMIUM, CHROMIUM_ARGS };

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

/**
 * Says loudly why browser tests are skipped, and refuses to skip on CI (CI=true): there the
 * missing browser is a failure (`.ci/run` installs the package).
 */
export function browserOrSkip(suite: string): boolean {
  if (chromiumAvailable()) return true;
  const message = `${suite}: no Chromium at ${CHROMIUM} (apt-get install -y chromium): BROWSER TESTS SKIPPED`;
  if (process.env.CI === 'true') throw new Error(`${message}, and CI=true forbids skipping`);
  console.warn(`\n!!!!!!!!\n${message}\n!!!!!!!!\n`);
  return false;
}

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** What the page printed to its console and any uncaught error (a CSP violation shows here). */
  problems: string[];
  close(): Promise<void>;
}

/** A fresh headless Chromium with its own temp profile. */
export async function launchBrowser(options: { width?: number; height?: number } = {}): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'pulse-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: options.width ?? 1280, height: options.height ?? 860 },
    acceptDownloads: true,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // Chromium aborts the requests in flight with ERR_NETWORK_CHANGED when the host's network
    // interfaces change, which Podman does each time the container suites running beside this
    // one start or remove a container (a veth pair). Not the dashboard's doing; what it does
    // after a failed request is what each test's own steps check.
    if (msg.type() === 'error' && !msg.text().includes('net::ERR_NETWORK_CHANGED')) problems.push(`console: ${msg.text()}`);
  });
  return {
    context,
    page,
    problems,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
