import { createServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { chromium, type Browser } from 'playwright-core';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/config.ts';
import { startEmulator } from '../../src/emulator/server.ts';
import { startForwardWorker } from '../../src/forwarding/worker.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { closeServices, createServices } from '../../src/services.ts';
import { Client } from './client.ts';
import { isolate } from './harness.ts';
import { FAST_FORWARDING, googleEnv, type Rig } from './rig.ts';

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

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
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
  const emulator = await startEmulator({});
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const iso = await isolate({ ...googleEnv(emulator.url), PUBLIC_URL: url, LOG_LEVEL: 'trace' });
  const config = loadConfig(iso.env);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const services = await createServices(config, createLogger('trace', sink));
  const handle = await buildApp(services);
  await handle.app.listen({ host: '127.0.0.1', port });
  const worker = await startForwardWorker(services, FAST_FORWARDING);
  const admin = new Client(url);
  const control = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${emulator.url}${path}`, {
      method,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`emulator ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  let closed = false;
  const relay = {
    url,
    config,
    services,
    handle,
    iso,
    async close() {
      if (closed) return;
      closed = true;
      await handle.app.close();
      await closeServices(services);
      await iso.drop();
    },
  };
  return {
    emulator,
    relay,
    worker,
    admin,
    control,
    logs,
    async link(accountId, email) {
      await control('POST', '/emulator/consent', { email });
      const { body } = await admin.call('POST', `/api/v1/admin/accounts/${accountId}/google/authorize`, {});
      const consent = await fetch(body.authUrl, { redirect: 'manual' });
      const callback = await fetch(consent.headers.get('location')!);
      if (callback.status !== 200) throw new Error(`callback: ${callback.status} ${await callback.text()}`);
    },
    async close() {
      await worker.close();
      await relay.close();
      await emulator.close();
    },
  };
}

/**
 * Where the browser tests keep their screenshots: test-artifacts/screenshots (not tracked) unless SCREENSHOT_DIR says
 * otherwise. `npm run screenshots` writes the README's pictures to docs/screenshots.
 */
export function screenshotPath(name: string): string {
  return `${process.env.SCREENSHOT_DIR ?? 'test-artifacts/screenshots'}/${name}.png`;
}
