import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { assertError, poll } from './helpers/checks.ts';
import { Client } from './helpers/client.ts';
import { startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { call, createTus, partPath, patchTus, TUS, openTusPatch } from './helpers/resumable.ts';

/**
 * Every append is one of the in-flight uploads (src/intake/inflight.ts): a body that stops arriving is answered after
 * the idle timeout, a shutdown stops it, and in both cases the whole chunks that arrived stay durable for the resume.
 */

const IDLE_SECONDS = 1;
let relay: TestRelay;
let phone: Client & { deviceId: string };

before(async () => {
  relay = await startRelay({ UPLOAD_IDLE_SECONDS: String(IDLE_SECONDS), SHUTDOWN_GRACE_SECONDS: '2' });
  const admin = new Client(relay.url);
  phone = await admin.pairDevice(await admin.createAccount('Intake'), 'Phone');
});
after(() => relay?.close());

async function stalledPatch(url: string, bytes: Buffer, sent: number) {
  const conn = await openTusPatch(relay.url, phone.token, url, 0, bytes.length);
  await conn.write(bytes.subarray(0, sent));
  return conn;
}

describe('resumable appends in the in-flight registry', () => {
  it('an append whose body stops arriving is answered 400 incomplete_upload after the idle timeout; what arrived is kept', async () => {
    const bytes = jpeg(400_000);
    const url = await createTus(relay, phone.token, bytes.length, { deviceAssetId: 'stall', fileName: 'stall.jpg' });
    const startedAt = Date.now();
    const conn = await stalledPatch(url, bytes, 250_000);
    const res = await conn.responseWithin(IDLE_SECONDS * 1000 + 5000);
    conn.socket.destroy();
    assertError(res, 400, 'incomplete_upload');
    assert.match(res!.body.message, /No part of the body arrived/);
    assert.ok(Date.now() - startedAt >= IDLE_SECONDS * 1000 - 100);
    const head = await call(relay, phone.token, 'HEAD', url, TUS);
    assert.equal(head.headers.get('upload-offset'), '250000', 'the chunks that arrived were not kept');
    const done = await patchTus(relay, phone.token, url, 250_000, bytes.subarray(250_000));
    assert.equal(done.status, 204);
    const asset = await relay.services.db.asset.findUniqueOrThrow({ where: { id: done.headers.get('x-asset-id')! } });
    assert.equal(asset.blobSha256, sha256(bytes));
  });

  it('a shutdown stops a running append with 503 not_ready; its bytes stay durable', async () => {
    const bytes = jpeg(400_000);
    const url = await createTus(relay, phone.token, bytes.length, { deviceAssetId: 'shutdown', fileName: 'shutdown.jpg' });
    const conn = await stalledPatch(url, bytes, 100_000);
    await poll(
      async () => (await relay.services.db.resumableUpload.findMany({ where: { deviceAssetId: 'shutdown' } })).length,
      (n) => n === 1,
    );
    await new Promise((r) => setTimeout(r, 200));
    // The app stops its uploads half a grace period after the shutdown begins (SHUTDOWN_GRACE_SECONDS=2 here).
    relay.handle.beginShutdown();
    // Keep the body flowing slowly, so it is the shutdown that stops it, not the idle timeout.
    const trickling = conn.trickle(bytes.subarray(100_000, 200_000), 1000, 50);
    const res = await conn.responseWithin(relay.config.shutdownGraceMs / 2 + 5000);
    await trickling;
    conn.socket.destroy();
    assertError(res, 503, 'not_ready');
    const row = await relay.services.db.resumableUpload.findFirstOrThrow({ where: { deviceAssetId: 'shutdown' } });
    assert.ok(Number(row.offset) >= 100_000 && Number(row.offset) < 200_000, `offset ${row.offset}`);
    const file = await stat(partPath(relay, row.id));
    assert.equal(file.size, Number(row.offset), 'the file holds exactly the durable bytes');
  });
});
