import { Writable } from 'node:stream';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createLogger } from '../../src/ops/logger.ts';
import { startRig, type Rig } from './rig.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface WebRig extends Rig {
  /** Every line the relay logged (level trace), for checking that no secret reached it. */
  logs: string[];
}

/**
 * startRig's relay + worker + emulator, with two differences a browser needs: PUBLIC_URL is the relay's own address
 * (the Google consent redirects the browser there, and pairing URLs lead there), and the relay's log is captured.
 */
export async function startWebRig(): Promise<WebRig> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const rig = await startRig({ selfPublicUrl: true, env: { LOG_LEVEL: 'trace' }, logger: createLogger('trace', sink) });
  return Object.assign(rig, { logs });
}

/**
 * Where the browser tests keep their screenshots: test-artifacts/screenshots (not tracked) unless SCREENSHOT_DIR says
 * otherwise. `npm run screenshots` writes the README's pictures to docs/screenshots.
 */
export function screenshotPath(name: string): string {
  return `${process.env.SCREENSHOT_DIR ?? 'test-artifacts/screenshots'}/${name}.png`;
}

/** Collect into `errors` what the page throws and what it logs as an error: a test asserts the list stays empty. */
export function collectPageErrors(page: Page, errors: string[]): void {
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
}
