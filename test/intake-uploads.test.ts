import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertError, poll, waitForTempFile } from './helpers/checks.ts';
import { Client } from './helpers/client.ts';
import { startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg } from './helpers/media.ts';
import { multipart, RawConnection, requestHead } from './helpers/raw-http.ts';

/**
 * The intake every door shares (src/intake): one in-flight registry (shutdown, idle timeout), one early answer and
 * incomplete-body mapping, one place that counts upload metrics. Each case is run through the WebDAV door, and
 * where it matters through the native upload too: a door that bypassed the intake would fail here.
 */

const IDLE_SECONDS = 1;
const basic = (token: string) => `Basic ${Buffer.from(`phone:${token}`).toString('base64')}`;

async function phoneOf(relay: TestRelay, name: string) {
  const admin = new Client(relay.url);
  return admin.pairDevice(await admin.createAccount(name));
}

const tempFiles = (relay: TestRelay) => readdir(relay.services.blobs.tmpDir);

/** The upload series as the registry holds them: outcome → count, and the bytes received. */
async function uploadSeries(relay: TestRelay) {
  const { metrics } = relay.services;
  const outcomes = new Map((await metrics.uploads.get()).values.map((v) => [String(v.labels.outcome), v.value]));
  const bytes = (await metrics.bytesReceived.get()).values[0]?.value ?? 0;
  return { outcomes, bytes };
}

describe('idle timeout, cuts and metrics', () => {
  let relay: TestRelay;
  let phone: Client & { deviceId: string };
  before(async () => {
    relay = await startRelay({ UPLOAD_IDLE_SECONDS: String(IDLE_SECONDS) });
    phone = await phoneOf(relay, 'Intake');
  });
  after(() => relay?.close());

  /** Send a head and the first `sent` bytes of `body`, then nothing: a client that stalls mid-body. */
  async function stall(head: string, body: Buffer, sent: number) {
    const conn = await RawConnection.open(relay.url);
    await conn.write(head);
    await conn.write(body.subarray(0, sent));
    const startedAt = Date.now();
    return { conn, startedAt };
  }

  async function assertCutForIdling(conn: RawConnection, startedAt: number) {
    const res = await conn.responseWithin(IDLE_SECONDS * 1000 + 5000);
    const tookMs = Date.now() - startedAt;
    assertError(res, 400, 'incomplete_upload');
    assert.match(res!.body.message, /No part of the body arrived/);
    assert.ok(tookMs >= IDLE_SECONDS * 1000 - 100, `answered after ${tookMs} ms, before the idle timeout`);
    assert.ok(tookMs < IDLE_SECONDS * 1000 + 3000, `answered after ${tookMs} ms`);
    assert.equal(res!.headers.connection, 'close');
    await Promise.race([conn.closed, sleep(3000)]);
    assert.ok(conn.socket.destroyed || !conn.writable, 'the stalled connection was left open');
    conn.socket.destroy();
    assert.deepEqual(
      await poll(
        () => tempFiles(relay),
        (f) => f.length === 0,
      ),
      [],
      'a temp file outlived the stalled upload',
    );
  }

  it('a WebDAV PUT whose body stops arriving is answered 400 incomplete_upload after the idle timeout, its temp file gone', async () => {
    const bytes = jpeg(300_000);
    const { conn, startedAt } = await stall(
      requestHead('PUT', '/dav/stall/IMG_1.jpg', { Authorization: basic(phone.token), 'Content-Length': bytes.length }),
      bytes,
      100_000,
    );
    await waitForTempFile(relay.services.blobs.tmpDir);
    await assertCutForIdling(conn, startedAt);
    const listing = await fetch(`${relay.url}/dav/stall/IMG_1.jpg`, { headers: { authorization: basic(phone.token) } });
    assert.equal(listing.status, 404, 'a stalled upload left an entry');
  });

  it('a native upload whose body stops arriving is answered the same way', async () => {
    const { body, contentType } = multipart([
      { name: 'deviceAssetId', value: 'stalled-1' },
      { name: 'file', value: jpeg(300_000), filename: 'IMG_2.jpg', contentType: 'image/jpeg' },
    ]);
    const { conn, startedAt } = await stall(
      requestHead('POST', '/api/v1/assets', {
        Authorization: `Bearer ${phone.token}`,
        'Content-Type': contentType,
        'Content-Length': body.length,
      }),
      body,
      100_000,
    );
    await waitForTempFile(relay.services.blobs.tmpDir);
    await assertCutForIdling(conn, startedAt);
  });

  it('an XML body (PROPFIND) that stops arriving is cut too', async () => {
    const xml = Buffer.from(`<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`);
    const { conn, startedAt } = await stall(
      requestHead('PROPFIND', '/dav/', { Authorization: basic(phone.token), Depth: '0', 'Content-Length': xml.length }),
      xml,
      20,
    );
    await assertCutForIdling(conn, startedAt);
  });

  it('a slow upload that keeps making progress is not cut, however long it takes', async () => {
    const bytes = jpeg(120_000);
    const conn = await RawConnection.open(relay.url);
    await conn.write(requestHead('PUT', '/dav/slow/IMG_3.jpg', { Authorization: basic(phone.token), 'Content-Length': bytes.length }));
    // 3 × the idle timeout in all, never silent for half of it.
    await conn.trickle(bytes, 4000, (IDLE_SECONDS * 3000) / 30);
    const res = await conn.responseWithin(10_000);
    conn.socket.destroy();
    assert.equal(res?.status, 201, res?.text);
  });

  it('a WebDAV PUT cut mid-body (the client half-closes) is answered 400 incomplete_upload, and leaves no temp file', async () => {
    const bytes = jpeg(300_000);
    const conn = await RawConnection.open(relay.url);
    await conn.write(requestHead('PUT', '/dav/cut/IMG_4.jpg', { Authorization: basic(phone.token), 'Content-Length': bytes.length }));
    await conn.write(bytes.subarray(0, 150_000));
    await waitForTempFile(relay.services.blobs.tmpDir);
    conn.socket.end();
    const res = await conn.responseWithin(5000);
    conn.socket.destroy();
    assertError(res, 400, 'incomplete_upload');
    assert.deepEqual(
      await poll(
        () => tempFiles(relay),
        (f) => f.length === 0,
      ),
      [],
    );
  });

  it('WebDAV uploads are counted in the upload series, as native ones are', async () => {
    const before = await uploadSeries(relay);
    const auth = { authorization: basic(phone.token) };
    const photo = jpeg(70_000);
    assert.equal((await fetch(`${relay.url}/dav/m/IMG_5.jpg`, { method: 'PUT', headers: auth, body: new Uint8Array(photo) })).status, 201);
    // The same content under another name: the ledger already has it.
    assert.equal((await fetch(`${relay.url}/dav/m/IMG_5b.jpg`, { method: 'PUT', headers: auth, body: new Uint8Array(photo) })).status, 201);
    // Under a temporary name: held, not yet an asset.
    assert.equal(
      (await fetch(`${relay.url}/dav/m/IMG_6.jpg.part`, { method: 'PUT', headers: auth, body: new Uint8Array(jpeg(50_000)) })).status,
      201,
    );
    const refused = await fetch(`${relay.url}/dav/m/doc.jpg`, { method: 'PUT', headers: auth, body: Buffer.from('%PDF-1.7 not a photo') });
    assert.equal(refused.status, 415);
    const native = await phone.upload(jpeg(40_000), { deviceAssetId: 'native-metrics' });
    assert.equal(native.status, 201);
    const after = await uploadSeries(relay);
    const delta = (outcome: string) => (after.outcomes.get(outcome) ?? 0) - (before.outcomes.get(outcome) ?? 0);
    assert.equal(delta('created'), 2, 'one WebDAV, one native');
    assert.equal(delta('duplicate'), 1);
    assert.equal(delta('held'), 1);
    assert.equal(delta('415'), 1);
    assert.ok(after.bytes - before.bytes >= 70_000 * 2 + 50_000 + 40_000, `bytes counted: ${after.bytes - before.bytes}`);
  });
});

describe('shutdown', () => {
  let relay: TestRelay;
  let phone: Client & { deviceId: string };
  before(async () => {
    relay = await startRelay({ SHUTDOWN_GRACE_SECONDS: '2' });
    phone = await phoneOf(relay, 'Shutdown');
  });
  after(() => relay?.close());

  it('a WebDAV PUT still running when the grace period is half over is stopped (503 not_ready or cut), its temp file deleted', async () => {
    const bytes = jpeg(8_000_000); // at ~400 kB/s: 20 s, far past the grace period
    const conn = await RawConnection.open(relay.url);
    await conn.write(requestHead('PUT', '/dav/late/IMG_7.jpg', { Authorization: basic(phone.token), 'Content-Length': bytes.length }));
    const sending = conn.trickle(bytes, 20_000, 50);
    await waitForTempFile(relay.services.blobs.tmpDir);
    const shutdownAt = Date.now();
    relay.handle.beginShutdown();
    const res = await conn.responseWithin(5000);
    const tookMs = Date.now() - shutdownAt;
    conn.socket.destroy();
    await sending;
    if (res !== null) assertError(res, 503, 'not_ready');
    assert.ok(tookMs < 2500, `the upload ran on for ${tookMs} ms after the shutdown began`);
    assert.deepEqual(
      await poll(
        () => tempFiles(relay),
        (f) => f.length === 0,
      ),
      [],
      'a temp file outlived the shutdown',
    );
  });
});
