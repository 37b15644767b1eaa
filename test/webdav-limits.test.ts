import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { assertError } from './helpers/checks.ts';
import { Client } from './helpers/client.ts';
import { startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg } from './helpers/media.ts';

/**
 * What one device's WebDAV view may cost the relay: a bounded number of entries (a COPY doubles a tree on every
 * call) and a bounded time per tree transaction (a stuck one must not hold the device's lock and a connection).
 */

const LIMIT = 20;
let relay: TestRelay;
let phone: Client & { deviceId: string };
let other: Client & { deviceId: string };

before(async () => {
  relay = await startRelay({ DAV_MAX_ENTRIES_PER_DEVICE: String(LIMIT), DAV_TRANSACTION_TIMEOUT_SECONDS: '1' });
  const admin = new Client(relay.url);
  const account = await admin.createAccount('Limits');
  [phone, other] = [await admin.pairDevice(account, 'A'), await admin.pairDevice(account, 'B')];
});
after(() => relay?.close());

const auth = (c: Client) => `Basic ${Buffer.from(`phone:${c.token}`).toString('base64')}`;

async function dav(method: string, path: string, headers: Record<string, string> = {}, body?: Buffer, as: Client = phone) {
  const res = await fetch(`${relay.url}${path}`, {
    method,
    headers: { authorization: auth(as), ...headers },
    body: body ? new Uint8Array(body) : undefined,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, body: json as any, headers: res.headers };
}

const entries = (deviceId: string) => relay.services.db.davEntry.count({ where: { deviceId } });

describe('entries per device', () => {
  it('COPY cannot grow a view past the limit: 507 insufficient_storage, nothing copied; other devices unaffected', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await dav('PUT', `/dav/a/IMG_${i}.jpg.part`, {}, jpeg(5000 + i))).status, 201);
    assert.equal(await entries(phone.deviceId), 6);
    assert.equal((await dav('COPY', '/dav/a', { destination: '/dav/b' })).status, 201);
    assert.equal((await dav('COPY', '/dav/a', { destination: '/dav/c' })).status, 201);
    assert.equal(await entries(phone.deviceId), 18);
    const refused = await dav('COPY', '/dav/a', { destination: '/dav/d' });
    assertError(refused, 507, 'insufficient_storage');
    assert.match(refused.body.message, new RegExp(`at most ${LIMIT}`));
    assert.equal(await entries(phone.deviceId), 18, 'a refused COPY copied something');
    // Replacing a tree of the same size adds nothing: allowed.
    assert.equal((await dav('COPY', '/dav/a', { destination: '/dav/b' })).status, 204);
    assert.equal(await entries(phone.deviceId), 18);
    // Another device of the same account has its own allowance.
    assert.equal((await dav('MKCOL', '/dav/mine/', {}, undefined, other)).status, 201);
  });

  it('counted exactly under the lock: folders a COPY creates above its destination count too', async () => {
    // 18 now; a shallow COPY of one folder (1 entry) whose destination needs 2 new folders above it: 21 > 20.
    const refused = await dav('COPY', '/dav/a', { destination: '/dav/x/y/a', depth: '0' });
    assertError(refused, 507, 'insufficient_storage');
    assert.equal(await entries(phone.deviceId), 18, 'the refused COPY was not rolled back');
  });

  it('at the limit, a new file or folder is refused (507) and stores nothing; replacing a file still works', async () => {
    assert.equal((await dav('MKCOL', '/dav/e/')).status, 201);
    assert.equal((await dav('PUT', '/dav/e/IMG_last.jpg.part', {}, jpeg(7000))).status, 201);
    assert.equal(await entries(phone.deviceId), LIMIT);
    assertError(await dav('MKCOL', '/dav/f/'), 507, 'insufficient_storage');
    const blobsBefore = await relay.services.db.blob.count();
    assertError(await dav('PUT', '/dav/e/IMG_more.jpg', {}, jpeg(8000)), 507, 'insufficient_storage');
    assert.equal(await relay.services.db.blob.count(), blobsBefore, 'a refused PUT stored its bytes');
    assert.deepEqual(await readdir(relay.services.blobs.tmpDir), []);
    assert.equal((await dav('PUT', '/dav/e/IMG_last.jpg.part', {}, jpeg(9000))).status, 204);
    // Deleting makes room again.
    assert.equal((await dav('DELETE', '/dav/c')).status, 204);
    assert.equal((await dav('MKCOL', '/dav/f/')).status, 201);
    assert.ok((await entries(phone.deviceId)) <= LIMIT);
  });
});

describe('tree transactions have a budget', () => {
  it('a tree change that cannot finish within DAV_TRANSACTION_TIMEOUT_SECONDS is answered 503 not_ready with Retry-After, and rolled back', async () => {
    // Hold the device's view lock from outside, as a stuck transaction would.
    const holder = new pg.Client({ connectionString: relay.iso.databaseUrl });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`dav:${phone.deviceId}`]);
      const started = Date.now();
      const res = await dav('MKCOL', '/dav/waiting/');
      const took = Date.now() - started;
      assertError(res, 503, 'not_ready');
      assert.ok(res.headers.get('retry-after'), 'no Retry-After');
      assert.ok(took < 3000, `answered after ${took} ms`);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    assert.equal(await relay.services.db.davEntry.count({ where: { deviceId: phone.deviceId, path: '/waiting' } }), 0);
    assert.equal((await dav('MKCOL', '/dav/waiting2/')).status, 201, 'the view is usable again');
  });
});
