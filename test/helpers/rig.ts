import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/server.ts';
import { startForwardWorker, type ForwardWorker } from '../../src/forwarding/worker.ts';
import type { ForwardingOptions } from '../../src/forwarding/context.ts';
import { Client } from './client.ts';
import { startRelay, type TestRelay } from './harness.ts';
import { freePort } from './child.ts';
import type { Logger } from 'pino';

export const TEST_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

/** Relay settings that point it at a given emulator, as they would point at Google: only URLs differ. */
export function googleEnv(emulatorUrl: string): Record<string, string> {
  return {
    GOOGLE_CLIENT_ID: 'photo-relay-demo',
    GOOGLE_CLIENT_SECRET: 'demo-secret',
    GOOGLE_PHOTOS_API_URL: emulatorUrl,
    GOOGLE_OAUTH_AUTH_URL: `${emulatorUrl}/o/oauth2/v2/auth`,
    GOOGLE_OAUTH_TOKEN_URL: `${emulatorUrl}/token`,
    GOOGLE_OAUTH_REVOKE_URL: `${emulatorUrl}/revoke`,
    ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    PUBLIC_URL: 'http://127.0.0.1:9',
  };
}

/** Forwarding timings shortened for tests; the logic is unchanged. */
export const FAST_FORWARDING: Partial<ForwardingOptions> = {
  createDelayMs: 50,
  quotaRecheckMs: 500,
  reconcileIntervalMs: 1000,
  minRateLimitWaitMs: 300,
  spoolRecheckMs: 300,
};

export interface Rig {
  emulator: RunningEmulator;
  relay: TestRelay;
  worker: ForwardWorker | null;
  admin: Client;
  /** Link an account to the emulator's Google user `email` through the real consent flow and callback. */
  link(accountId: string, email: string, options?: { replace?: boolean }): Promise<void>;
  /** Call the emulator's control API. */
  control(method: string, path: string, body?: unknown): Promise<any>;
  close(): Promise<void>;
}

export interface RigOptions {
  emulator?: EmulatorOptions;
  env?: Record<string, string>;
  forwarding?: Partial<ForwardingOptions>;
  worker?: boolean;
  /** PUBLIC_URL is the relay's own address, for a browser that follows the consent redirect and pairing links. */
  selfPublicUrl?: boolean;
  logger?: Logger;
}

export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const emulator = await startEmulator({ ...options.emulator });
  const port = options.selfPublicUrl ? await freePort() : 0;
  const relay = await startRelay(
    { ...googleEnv(emulator.url), ...(options.selfPublicUrl ? { PUBLIC_URL: `http://127.0.0.1:${port}` } : {}), ...options.env },
    { port, ...(options.logger ? { logger: options.logger } : {}) },
  );
  const worker = options.worker === false ? null : await startForwardWorker(relay.services, { ...FAST_FORWARDING, ...options.forwarding });
  const admin = new Client(relay.url);
  const control = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${emulator.url}${path}`, {
      method,
      ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`emulator ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  return {
    emulator,
    relay,
    worker,
    admin,
    control,
    async link(accountId, email, options) {
      await control('POST', '/emulator/consent', { email });
      const { body } = await admin.call('POST', `/api/v1/admin/accounts/${accountId}/google/authorize`, options);
      const consent = await fetch(body.authUrl, { redirect: 'manual' });
      const location = new URL(consent.headers.get('location')!);
      const callback = await fetch(`${relay.url}${location.pathname}${location.search}`);
      if (callback.status !== 200) throw new Error(`callback: ${callback.status} ${await callback.text()}`);
    },
    async close() {
      await worker?.close();
      await relay.close();
      await emulator.close();
    },
  };
}

/** Poll until `check` returns a truthy value; fail with the last value seen after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
