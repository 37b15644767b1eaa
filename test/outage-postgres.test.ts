import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, it } from 'node:test';
import { Client } from './helpers/client.ts';
import { PG_ROOT } from './helpers/harness.ts';
import { startLoggedRelay, type LogCapture } from './helpers/logged-relay.ts';
import type { TestRelay } from './helpers/harness.ts';
import { jpeg } from './helpers/media.ts';
import { waitFor } from './helpers/rig.ts';

/**
 * Issue 10, finding 5 (Postgres side): a database out of reach is an outage to wait out, so every route answers
 * 503 not_ready with Retry-After, never 500, and the driver's text (hosts, ports, Prisma codes) stays in the log.
 * The relay reaches Postgres through a TCP proxy this test cuts and restores.
 */

class CuttableProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => {});
        s.once('close', () => this.sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Refuse new connections and reset the open ones: Postgres is gone, as far as the relay can tell. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}

const pgTarget = new URL(PG_ROOT);
const proxy = new CuttableProxy({ host: pgTarget.hostname, port: Number(pgTarget.port || 5432) });
let relay: TestRelay & { log: LogCapture };

before(async () => {
  await proxy.open();
  relay = await startLoggedRelay({}, {
    databaseUrl: (direct) => {
      const url = new URL(direct);
      url.port = String(proxy.port);
      return url.toString();
    },
  });
});
after(async () => {
  await proxy.cut();
  await relay?.close();
});

// What must never reach a client: the driver's words, the database's address, Prisma's codes.
const INTERNAL_TEXT = /can't reach|ECONNREFUSED|ECONNRESET|P1001|P1017|P2010|127\.0\.0\.1|terminated|prisma|postgres(ql)?:\/\//i;

function assertNotReady(res: { status: number; headers: Headers; text: string }, what: string) {
  assert.equal(res.status, 503, `${what}: ${res.status} ${res.text}`);
  assert.ok(Number(res.headers.get('retry-after')) > 0, `${what}: Retry-After`);
  const body = JSON.parse(res.text);
  assert.equal(body.code, 'not_ready', what);
  assert.equal(body.statusCode, 503);
  assert.doesNotMatch(res.text, INTERNAL_TEXT, `${what}: internal text in the answer`);
}

async function call(method: string, path: string, token: string, body?: BodyInit, headers: Record<string, string> = {}) {
  const res = await fetch(`${relay.url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...headers }, body });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

it('Postgres unreachable: device, upload, admin and readiness answer 503 not_ready with Retry-After; details only in the log', async () => {
  const admin = new Client(relay.url);
  const phone = await admin.pairDevice(await admin.createAccount('Dora'));
  assert.equal((await phone.call('GET', '/api/v1/device')).status, 200);

  await proxy.cut();

  // Twice each: the first may meet a pooled connection dying under it, the second a refused new connection.
  for (let round = 0; round < 2; round++) {
    assertNotReady(await call('GET', '/api/v1/device', phone.token), `device route, round ${round}`);
    assertNotReady(await call('GET', '/api/v1/admin/accounts', relay.config.adminToken!), `admin route, round ${round}`);
    const form = new FormData();
    form.set('deviceAssetId', `outage-${round}`);
    form.set('file', new Blob([new Uint8Array(jpeg(10_000))]), 'IMG_1.jpg');
    assertNotReady(await call('POST', '/api/v1/assets', phone.token, form), `upload, round ${round}`);
    const dav = await fetch(`${relay.url}/dav/`, {
      method: 'PROPFIND',
      headers: { authorization: `Basic ${Buffer.from(`p:${phone.token}`).toString('base64')}`, depth: '0' },
    });
    assertNotReady({ status: dav.status, headers: dav.headers, text: await dav.text() }, `WebDAV, round ${round}`);
  }

  const ready = await fetch(`${relay.url}/readyz`);
  const readyText = await ready.text();
  assertNotReady({ status: ready.status, headers: ready.headers, text: readyText }, 'readyz');
  assert.deepEqual(JSON.parse(readyText).checks, { postgres: 'down', redis: 'up', spool: 'up' });

  // The operator's side: the log says what happened, with the error's code intact.
  const failures = relay.log.entries.filter((e) => e.msg === 'request failed' && e.code === 'not_ready');
  assert.ok(failures.length >= 4, `request failures logged: ${failures.length}`);
  assert.ok(
    failures.some((e) => typeof e.err?.code === 'string' && /^P\d{4}$/.test(e.err.code)),
    `a Prisma code in the logged errors: ${JSON.stringify(failures.map((e) => e.err?.code))}`,
  );
  const readiness = relay.log.entries.find((e) => e.msg === 'readiness check failed' && e.dependency === 'postgres');
  assert.ok(readiness?.err, 'readiness details are in the log');

  await proxy.open();
  await waitFor('ready again', async () => (await fetch(`${relay.url}/readyz`)).status === 200, 15_000);
  assert.equal((await phone.call('GET', '/api/v1/device')).status, 200);
});
