import pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { isolate, type Isolation } from '../../test/helpers/harness.ts';
import { googleEnv } from '../../test/helpers/rig.ts';
import { Client } from '../../test/helpers/client.ts';
import { relayCommand } from '../../test/helpers/production-command.ts';
import { freePort, spawnNode, waitHttp, type Child } from './proc.ts';

/** Undo steps run in reverse order, every one of them even if an earlier one fails. */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => Promise<unknown> | unknown }> = [];

  add(what: string, run: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, run });
  }

  async run(): Promise<void> {
    while (this.steps.length) {
      const step = this.steps.pop()!;
      try {
        await step.run();
      } catch (err) {
        console.error(`  ! cleanup "${step.what}" failed: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * An isolated relay configuration (own database, Redis prefix, spool) pointed at `googleUrl` as if it were Google.
 * Setting a Google client also keeps the relay out of demo mode, which would start an emulator inside it.
 */
export async function isolatedRelayEnv(googleUrl: string, cleanup: Cleanup): Promise<Isolation> {
  const iso = await track(
    isolate({
      ...googleEnv(googleUrl),
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      STALE_TEMP_MINUTES: '60',
      SHUTDOWN_GRACE_SECONDS: '5',
    }),
  );
  cleanup.add(`drop ${iso.name}`, () => dropTracked(iso));
  return iso;
}

// Isolations not dropped yet, so an interrupted run (Ctrl-C) can still drop them.
const live = new Set<Isolation>();
async function track(pending: Promise<Isolation>): Promise<Isolation> {
  const iso = await pending;
  live.add(iso);
  return iso;
}
async function dropTracked(iso: Isolation): Promise<void> {
  live.delete(iso);
  await iso.drop();
}
export async function dropAllIsolations(): Promise<void> {
  await Promise.allSettled([...live].map(dropTracked));
}

export interface RelayChild {
  child: Child;
  /** Base URL of its API (roles api and all). */
  url: string;
}

/** The relay started as `npm start` starts it [--role …], as a child process; for roles with an API, waits for /healthz. */
export async function startRelayChild(
  iso: Isolation,
  role: 'api' | 'worker' | 'all',
  cleanup: Cleanup,
  extraEnv: Record<string, string> = {},
): Promise<RelayChild> {
  const port = await freePort();
  const command = relayCommand(...(role === 'all' ? [] : ['--role', role]));
  const child = spawnNode(`relay --role ${role}`, command.args, {
    ...command.env,
    ...iso.env,
    ...extraEnv,
    PORT: String(port),
  });
  cleanup.add(`stop ${child.name} (pid ${child.pid})`, () => child.stop());
  const url = `http://127.0.0.1:${port}`;
  if (role !== 'worker') await waitHttp(child, `${url}/healthz`);
  return { child, url };
}

export async function control(emulatorUrl: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${emulatorUrl}${path}`, {
    method,
    ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`emulator ${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Link an account to the emulator's user `email` the way an admin does: consent, then Google's redirect to the callback. */
export async function linkAccount(relayUrl: string, admin: Client, emulatorUrl: string, accountId: string, email: string): Promise<void> {
  await control(emulatorUrl, 'POST', '/emulator/consent', { email });
  const { status, body } = await admin.call('POST', `/api/v1/admin/accounts/${accountId}/google/authorize`);
  if (status !== 200) throw new Error(`authorize: ${status} ${JSON.stringify(body)}`);
  const consent = await fetch(body.authUrl, { redirect: 'manual' });
  const location = consent.headers.get('location');
  if (!location) throw new Error(`consent answered ${consent.status} without a redirect`);
  const redirect = new URL(location);
  const callback = await fetch(`${relayUrl}${redirect.pathname}${redirect.search}`);
  if (callback.status !== 200) throw new Error(`callback: ${callback.status} ${await callback.text()}`);
}

export async function setForwarding(admin: Client, accountId: string, forwarding: 'active' | 'paused'): Promise<void> {
  const { status, body } = await admin.call('PATCH', `/api/v1/admin/accounts/${accountId}`, { forwarding });
  if (status !== 200) throw new Error(`PATCH forwarding=${forwarding}: ${status} ${JSON.stringify(body)}`);
}

export { Client };

/** Delivery counts by state, read straight from the relay's database (no load on the relay itself). */
export async function deliveryStates(db: pg.Client): Promise<Record<string, number>> {
  const { rows } = await db.query<{ state: string; n: string }>('SELECT state::text AS state, count(*) AS n FROM deliveries GROUP BY 1');
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

export async function connectDb(iso: Isolation, cleanup: Cleanup): Promise<pg.Client> {
  const db = new pg.Client({ connectionString: iso.databaseUrl });
  await db.connect();
  cleanup.add('close database client', () => db.end());
  return db;
}

/** Poll until every one of `expected` deliveries is backed up; throws on a failed one or after `timeoutMs`. */
export async function waitBackedUp(
  db: pg.Client,
  expected: number,
  timeoutMs: number,
  progress: (states: Record<string, number>) => void,
): Promise<{ states: Record<string, number>; longestStallSeconds: number }> {
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  let lastCount = -1;
  let lastChange = performance.now();
  let longestStall = 0;
  for (;;) {
    const states = await deliveryStates(db);
    const done = states.backed_up ?? 0;
    const now = performance.now();
    if (done !== lastCount) {
      longestStall = Math.max(longestStall, now - lastChange);
      lastCount = done;
      lastChange = now;
    }
    if (done >= expected) return { states, longestStallSeconds: longestStall / 1000 };
    if ((states.failed ?? 0) > 0) throw new Error(`deliveries failed: ${JSON.stringify(states)}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${expected} deliveries backed up: ${JSON.stringify(states)}`);
    if (Date.now() - lastReport > 5000) {
      progress(states);
      lastReport = Date.now();
    }
    await sleep(50);
  }
}

/** A pino line in a few words: level, message, error type and message, and where it was thrown from in src/. */
export function summarizeLogLine(line: string): string {
  try {
    const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { type?: string; message?: string; stack?: string } };
    const at = /\((\/[^)]*\/src\/[^)]+)\)/.exec(entry.err?.stack ?? '')?.[1]?.replace(/^.*\/src\//, 'src/');
    return `[${entry.level}] ${entry.msg ?? ''}${entry.err ? ` — ${entry.err.type}: ${(entry.err.message ?? '').split('\n').pop()?.trim()}` : ''}${at ? ` (at ${at})` : ''}`;
  } catch {
    return line.slice(0, 300);
  }
}
