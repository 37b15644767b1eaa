import type pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEmulator, type RunningEmulator } from '../../src/emulator/server.ts';
import type { Isolation } from '../../test/helpers/harness.ts';
import { idleRss } from './proc.ts';
import {
  Client,
  connectDb,
  control,
  isolatedRelayEnv,
  linkAccount,
  setForwarding,
  startRelayChild,
  type Cleanup,
  type RelayChild,
} from './relay.ts';

// The emulator's OAuth endpoints; everything else it counts is a Photos Library API request.
const OAUTH_ENDPOINTS = new Set(['auth', 'token', 'revoke']);

export interface ForwardingRig {
  emulator: RunningEmulator;
  iso: Isolation;
  api: RelayChild;
  admin: Client;
  device: Client & { deviceId: string };
  accountId: string;
  email: string;
  db: pg.Client;
}

/**
 * The emulator (in this process) standing in for Google, the relay's API as a child, one account linked through
 * the real consent flow and callback, forwarding paused (so what is uploaded waits), and one paired device.
 */
export async function forwardingRig(name: string, cleanup: Cleanup): Promise<ForwardingRig> {
  const emulator = await startEmulator();
  cleanup.add('close emulator', () => emulator.close());
  const iso = await isolatedRelayEnv(emulator.url, cleanup);
  const api = await startRelayChild(iso, 'api', cleanup);
  const admin = new Client(api.url);
  const accountId = await admin.createAccount(name);
  const email = `${name.toLowerCase().replace(/\W+/g, '-')}@example.com`;
  await linkAccount(api.url, admin, emulator.url, accountId, email);
  await setForwarding(admin, accountId, 'paused');
  const device = await admin.pairDevice(accountId);
  const db = await connectDb(iso, cleanup);
  return { emulator, iso, api, admin, device, accountId, email, db };
}

/**
 * Start the forwarding worker (`--role worker`) as its own child while the account is paused, and wait until it
 * has taken (and set aside) the jobs the uploads queued: from then on it is idle, and its RSS is its idle RSS.
 */
export async function startIdleWorker(
  rig: ForwardingRig,
  cleanup: Cleanup,
  env: Record<string, string> = {},
): Promise<{ worker: RelayChild; idleRss: number }> {
  const worker = await startRelayChild(rig.iso, 'worker', cleanup, env);
  await waitQueueDrained(rig, worker);
  await sleep(1500);
  return { worker, idleRss: await idleRss(worker.child.pid, 20) };
}

/** Wait until no upload job is waiting or running (the worker took every queued job, and set it aside if paused). */
export async function waitQueueDrained(rig: ForwardingRig, worker: RelayChild, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (worker.child.process.exitCode !== null) throw new Error(`worker exited:\n${worker.child.tail().join('\n')}`);
    const { body } = await rig.admin.call('GET', '/api/v1/admin/status');
    const upload = (body?.queues?.upload ?? {}) as Record<string, number>;
    const queued = (upload.waiting ?? 0) + (upload.prioritized ?? 0) + (upload.active ?? 0) + (upload.delayed ?? 0);
    if (queued === 0) return;
    if (Date.now() > deadline) throw new Error(`worker did not drain the upload queue: ${JSON.stringify(body?.queues)}`);
    await sleep(200);
  }
}

export async function emulatorStats(rig: ForwardingRig): Promise<any> {
  return control(rig.emulator.url, 'GET', '/emulator/stats');
}

/** Requests per endpoint (all statuses) between two /emulator/stats snapshots. */
export function requestDiff(before: any, after: any): Record<string, Record<string, number>> {
  const diff: Record<string, Record<string, number>> = {};
  for (const [endpoint, byStatus] of Object.entries(after.requests as Record<string, Record<string, number>>)) {
    for (const [status, n] of Object.entries(byStatus)) {
      const d = n - (before.requests?.[endpoint]?.[status] ?? 0);
      if (d !== 0) (diff[endpoint] ??= {})[status] = d;
    }
  }
  return diff;
}

export function photosRequests(diff: Record<string, Record<string, number>>): number {
  let n = 0;
  for (const [endpoint, byStatus] of Object.entries(diff)) {
    if (OAUTH_ENDPOINTS.has(endpoint)) continue;
    for (const count of Object.values(byStatus)) n += count;
  }
  return n;
}

export const totalOf = (diff: Record<string, Record<string, number>>, endpoint: string) =>
  Object.values(diff[endpoint] ?? {}).reduce((a, b) => a + b, 0);

export async function libraryItems(rig: ForwardingRig): Promise<{ sha256: string; size: number }[]> {
  const body = await control(rig.emulator.url, 'GET', `/emulator/libraries/${encodeURIComponent(rig.email)}/items`);
  return body.items;
}

export { setForwarding, control };
