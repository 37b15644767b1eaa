import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { findAssets, type AssetView } from '../../src/assets/asset-view.ts';
import type { Db } from '../../src/db/client.ts';
import type { Client } from './client.ts';
import { REPO, relayCommand } from './production-command.ts';
import { googleEnv, waitFor, type Rig } from './rig.ts';

/** Helpers shared by the forwarding tests: accounts with a phone, ledger and emulator inspection, worker processes. */

export interface Member {
  accountId: string;
  email: string;
  phone: Client & { deviceId: string };
}

let counter = 0;
/** A unique Google user per call: fault rules and library listings are matched by e-mail, so tests never collide. */
export function uniqueEmail(label: string): string {
  return `${label}-${process.pid}-${++counter}@example.com`;
}

/** An account linked to its own Google user, with one paired phone. */
export async function member(rig: Rig, label: string, opts: { link?: boolean } = {}): Promise<Member> {
  const accountId = await rig.admin.createAccount(label);
  const email = uniqueEmail(label.toLowerCase());
  if (opts.link !== false) await rig.link(accountId, email);
  const phone = await rig.admin.pairDevice(accountId, `${label}'s phone`);
  return { accountId, email, phone };
}

/** Upload bytes from a phone; fails the test unless the relay took them. */
export async function send(phone: Client, bytes: Buffer, fileName = `IMG_${++counter}.jpg`): Promise<string> {
  const res = await phone.upload(bytes, { deviceAssetId: `${fileName}-${counter}` }, fileName);
  assert.ok(res.status === 201 || res.status === 200, `upload answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

export interface LibraryItem {
  id: string;
  sha256: string;
  filename: string;
  size: number;
}

export async function library(rig: Rig, email: string): Promise<LibraryItem[]> {
  return (await rig.control('GET', `/emulator/libraries/${encodeURIComponent(email)}/items`)).items;
}

export interface EmulatorStats {
  requests: Record<string, Record<string, number>>;
  bytesReceived: number;
  quota: { used: number; limit: number; resetsAt: string };
  batchCreate: { maxConcurrentPerUser: Record<string, number>; overlaps: number; calls: Record<string, number>; inFlight: Record<string, number> };
  uploads: { peakPerUser: Record<string, number>; inFlight: Record<string, number> };
  resumable: { sessions: number; chunks: number; queries: number };
}

export async function stats(rig: Rig): Promise<EmulatorStats> {
  return rig.control('GET', '/emulator/stats');
}

/** Requests the emulator saw on one endpoint, all statuses together (or only `status`). */
export function count(s: EmulatorStats, endpoint: string, status?: string): number {
  const byStatus = s.requests[endpoint] ?? {};
  if (status !== undefined) return byStatus[status] ?? 0;
  return Object.values(byStatus).reduce((a, b) => a + b, 0);
}

/** Every request the emulator saw on the Photos API (uploads and batchCreate; not OAuth). */
export function photosRequests(s: EmulatorStats): number {
  return ['upload', 'uploadChunk', 'batchCreate', 'mediaItems', 'albums'].reduce((n, e) => n + count(s, e), 0);
}

export async function faults(rig: Rig, ...rules: unknown[]): Promise<void> {
  await rig.control('POST', '/emulator/faults', { rules });
}

export async function assetsOf(rig: Rig, accountId: string): Promise<AssetView[]> {
  return findAssets(rig.relay.services.db, { accountId });
}

export async function assetOf(rig: Rig, assetId: string): Promise<AssetView> {
  const [asset] = await findAssets(rig.relay.services.db, { ids: [assetId] });
  assert.ok(asset, `no asset ${assetId}`);
  return asset;
}

/** Wait until every asset of the account is in `state` (and there are `n` of them, when given). */
export async function waitAllState(rig: Rig, accountId: string, state: AssetView['state'], timeoutMs = 30_000, n?: number): Promise<AssetView[]> {
  return (await waitFor(
    `every asset of ${accountId} ${state}`,
    async () => {
      const assets = await assetsOf(rig, accountId);
      if (n !== undefined && assets.length !== n) return null;
      return assets.length > 0 && assets.every((a) => a.state === state) ? assets : null;
    },
    timeoutMs,
  ).catch(async (err: Error) => {
    const assets = await assetsOf(rig, accountId);
    const summary = assets.map((a) => `${a.state}${a.lastError ? ` (${a.lastError})` : ''}`);
    throw new Error(`${err.message}\nassets: ${JSON.stringify(summary)}`);
  }))!;
}

export async function waitAssetState(rig: Rig, assetId: string, state: AssetView['state'], timeoutMs = 30_000): Promise<AssetView> {
  return (await waitFor(
    `asset ${assetId} ${state}`,
    async () => {
      const a = await assetOf(rig, assetId);
      return a.state === state ? a : null;
    },
    timeoutMs,
  ).catch(async (err: Error) => {
    const a = await assetOf(rig, assetId);
    throw new Error(`${err.message}\nasset: ${a.state} attempts=${a.attempts} lastError=${a.lastError}`);
  }))!;
}

/**
 * Every asset of the account backed up, and the library holding each distinct content exactly once, under the
 * media item id the relay recorded.
 */
export async function assertDeliveredExactlyOnce(rig: Rig, m: { accountId: string; email: string }, expectedShas?: string[]): Promise<void> {
  const assets = await assetsOf(rig, m.accountId);
  const items = await library(rig, m.email);
  const bySha = new Map<string, LibraryItem[]>();
  for (const item of items) bySha.set(item.sha256, [...(bySha.get(item.sha256) ?? []), item]);
  for (const [sha, list] of bySha) assert.equal(list.length, 1, `content ${sha} is ${list.length} times in ${m.email}'s library`);
  const distinct = new Set(assets.map((a) => a.sha256));
  assert.deepEqual([...bySha.keys()].sort(), [...distinct].sort(), 'the library holds exactly the account\'s distinct contents');
  if (expectedShas) assert.deepEqual([...distinct].sort(), [...new Set(expectedShas)].sort());
  for (const a of assets) {
    assert.equal(a.state, 'backed_up', `asset ${a.id}: ${a.state} ${a.lastError ?? ''}`);
    const item = bySha.get(a.sha256)![0]!;
    if (a.googleMediaItemId !== null) assert.equal(a.googleMediaItemId, item.id, 'recorded media item id is the library item');
  }
}

export async function account(rig: Rig, accountId: string): Promise<any> {
  const res = await rig.admin.call('GET', `/api/v1/admin/accounts/${accountId}`);
  assert.equal(res.status, 200);
  return res.body;
}

/** Read emulator stats every few ms for `ms`, returning every snapshot (to prove nothing happened in a window). */
export async function watchStats(rig: Rig, ms: number, everyMs = 25): Promise<EmulatorStats[]> {
  const seen: EmulatorStats[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    seen.push(await stats(rig));
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return seen;
}

export interface SeenRequest {
  at: number;
  method: string;
  path: string;
  /** The Google user the bearer token belongs to (from the emulator's state), when there is one. */
  email: string | undefined;
}

/**
 * Every request reaching the in-process emulator, stamped on arrival: exact timing for backoff and throttling
 * assertions, where polling the stats would add the poll's own delay (large on a loaded machine). Only listens
 * on the emulator's server; changes nothing.
 */
export function requestLog(rig: Rig): { requests: SeenRequest[]; of(email: string): SeenRequest[]; stop(): void } {
  const requests: SeenRequest[] = [];
  const onRequest = (req: IncomingMessage) => {
    const bearer = /^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? '')?.[1];
    const email = bearer ? rig.emulator.state.oauth.lookupAccess(bearer)?.grant.email : undefined;
    requests.push({ at: Date.now(), method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, email });
  };
  rig.emulator.app.server.on('request', onRequest);
  return {
    requests,
    of: (email) => requests.filter((r) => r.email === email && r.path.startsWith('/v1/')),
    stop: () => void rig.emulator.app.server.off('request', onRequest),
  };
}

/** A forwarding worker as its own process, started as production starts it (dist/main.js --role worker). */
export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves once the worker logged that it started (needs LOG_LEVEL info or lower, which spawnWorker sets). */
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function workerEnv(rig: Rig, extra: Record<string, string> = {}): Record<string, string> {
  return { ...(process.env as Record<string, string>), ...rig.relay.iso.env, ...googleEnv(rig.emulator.url), ...extra };
}

/**
 * Worker processes outlive a test process that is killed or times out (its after() never runs), and go on
 * forwarding against a dead rig. Kill them when this process ends in any way it can notice.
 */
const live = new Set<ChildProcess>();
let reaperInstalled = false;
function installReaper(): void {
  if (reaperInstalled) return;
  reaperInstalled = true;
  const reap = () => {
    for (const child of live) child.kill('SIGKILL');
  };
  process.once('exit', reap);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      reap();
      process.exit(128 + ({ SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const)[signal]);
    });
  }
}

export function spawnWorker(rig: Rig, extra: Record<string, string> = {}): WorkerProcess {
  installReaper();
  const command = relayCommand('--role', 'worker');
  const child = spawn(process.execPath, command.args, {
    cwd: REPO,
    env: workerEnv(rig, { ...command.env, LOG_LEVEL: 'info', ...extra }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  let out = '';
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout!.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-50_000);
    if (out.includes('photo relay started')) markReady();
  });
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-50_000)));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  const started = Promise.race([ready, exited.then((e) => Promise.reject(new Error(`worker exited before it started (${e.code ?? e.signal}):\n${out}`)))]);
  started.catch(() => {}); // a worker killed before it started is no unhandled rejection; awaiting it still throws
  return {
    child,
    ready: started,
    exited,
    output: () => out,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Wait until the ledger holds exactly `expected` deliveries, every one of them backed up. */
export async function waitDeliveriesBackedUp(db: Db, expected: number, timeoutMs: number): Promise<void> {
  await waitFor(
    `${expected} deliveries backed up`,
    async () => {
      const states = await db.delivery.groupBy({ by: ['state'], _count: true });
      const done = states.find((s) => s.state === 'backed_up')?._count ?? 0;
      return done === expected && states.every((s) => s.state === 'backed_up') ? true : null;
    },
    timeoutMs,
    200,
  );
}
