import assert from 'node:assert/strict';
import { appendFile, rm, stat, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { sweepResumableUploads } from '../src/resumable/sweep.ts';
import { assertError, assertNoResidue } from './helpers/checks.ts';
import { Client } from './helpers/client.ts';
import { residue, startRelay, startSibling, type TestRelay } from './helpers/harness.ts';
import { jpeg, notMedia, sha256 } from './helpers/media.ts';
import { RawConnection, requestHead } from './helpers/raw-http.ts';
import { b64digest, call, createTus, metadata, partFiles, partPath, patchTus, TUS, openTusPatch } from './helpers/resumable.ts';

/**
 * tus 1.0 on /api/v1/uploads, each rule by hand: core, creation (with upload, deferred length), termination,
 * expiration, checksum, discovery; durable offsets, one writer per upload, restart, completion through the intake.
 */

let relay: TestRelay;
let phone: Client & { deviceId: string };
let other: Client & { deviceId: string };

before(async () => {
  relay = await startRelay();
  const admin = new Client(relay.url);
  const account = await admin.createAccount('Resumable');
  phone = await admin.pairDevice(account, 'Phone');
  other = await admin.pairDevice(await admin.createAccount('Other'), 'Other phone');
});
after(() => relay?.close());

const fields = (id: string, extra: Record<string, string> = {}) => ({ deviceAssetId: id, fileName: `${id}.jpg`, ...extra });

async function assetOf(id: string) {
  return relay.services.db.asset.findUniqueOrThrow({ where: { id }, include: { blob: true } });
}

describe('tus 1.0', () => {
  it('OPTIONS advertises version, extensions, max size and checksum algorithms (no token needed)', async () => {
    const res = await fetch(`${relay.url}/api/v1/uploads`, { method: 'OPTIONS' });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('tus-resumable'), '1.0.0');
    assert.equal(res.headers.get('tus-version'), '1.0.0');
    assert.deepEqual(res.headers.get('tus-extension')!.split(','), [
      'creation',
      'creation-with-upload',
      'creation-defer-length',
      'termination',
      'expiration',
      'checksum',
    ]);
    assert.equal(res.headers.get('tus-max-size'), String(relay.config.maxUploadBytes));
    assert.equal(res.headers.get('tus-checksum-algorithm'), 'sha256,sha1');
    assert.match(res.headers.get('upload-limit')!, /max-append-size=\d+/);
  });

  it('uploads in three PATCHes: 204 with the fsynced offset each time, the last answers the asset; HEAD and a retried last PATCH answer it again', async () => {
    const bytes = jpeg(300_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('three', { fileCreatedAt: '2024-05-01T10:00:00Z' }));
    assert.match(url, /^\/api\/v1\/uploads\/[0-9a-f-]{36}$/);
    const head0 = await call(relay, phone.token, 'HEAD', url, TUS);
    assert.equal(head0.status, 200);
    assert.equal(head0.headers.get('upload-offset'), '0');
    assert.equal(head0.headers.get('upload-length'), String(bytes.length));
    assert.ok(Date.parse(head0.headers.get('upload-expires')!) > Date.now());
    assert.equal(head0.headers.get('cache-control'), 'no-store');

    const cuts = [0, 100_000, 200_000, bytes.length];
    let last;
    for (let i = 0; i < 3; i++) {
      last = await patchTus(relay, phone.token, url, cuts[i]!, bytes.subarray(cuts[i], cuts[i + 1]));
      assert.equal(last.status, 204, JSON.stringify(last.body));
      assert.equal(last.headers.get('upload-offset'), String(cuts[i + 1]));
      assert.equal(last.headers.get('tus-resumable'), '1.0.0');
    }
    const assetId = last!.headers.get('x-asset-id');
    assert.ok(assetId, 'the completing PATCH names the asset');
    const asset = await assetOf(assetId);
    assert.equal(asset.blobSha256, sha256(bytes));
    assert.equal(Number(asset.blob.size), bytes.length);
    assert.equal(asset.deviceAssetId, 'three');
    assert.equal(asset.fileName, 'three.jpg');
    assert.equal(asset.fileCreatedAt?.toISOString(), '2024-05-01T10:00:00.000Z');
    assert.ok(await relay.services.blobs.has(sha256(bytes)));
    assert.deepEqual(await partFiles(relay), [], 'the part file outlived its completion');
    assert.equal(await relay.services.db.delivery.count({ where: { blobSha256: sha256(bytes) } }), 1);

    const head = await call(relay, phone.token, 'HEAD', url, TUS);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('upload-offset'), String(bytes.length));
    assert.equal(head.headers.get('x-asset-id'), assetId);
    const retry = await patchTus(relay, phone.token, url, 200_000, bytes.subarray(200_000));
    assert.equal(retry.status, 204);
    assert.equal(retry.headers.get('x-asset-id'), assetId);
    assert.equal(await relay.services.db.asset.count({ where: { blobSha256: sha256(bytes) } }), 1);
  });

  it('creation-with-upload: a POST carrying the whole file answers 201 with Location, the offset and the asset', async () => {
    const bytes = jpeg(50_000);
    const res = await call(
      relay,
      phone.token,
      'POST',
      '/api/v1/uploads',
      {
        ...TUS,
        'upload-length': String(bytes.length),
        'upload-metadata': metadata(fields('cwu')),
        'content-type': 'application/offset+octet-stream',
      },
      bytes,
    );
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.match(res.headers.get('location')!, /^\/api\/v1\/uploads\//);
    assert.equal(res.headers.get('upload-offset'), String(bytes.length));
    assert.equal(res.body.sha256, sha256(bytes));
    assert.equal(res.headers.get('x-asset-id'), res.body.id);
  });

  it('creation-defer-length: the length is declared on a later PATCH', async () => {
    const bytes = jpeg(120_000);
    const url = await createTus(relay, phone.token, 'defer', fields('deferred'));
    const head = await call(relay, phone.token, 'HEAD', url, TUS);
    assert.equal(head.headers.get('upload-defer-length'), '1');
    assert.equal((await patchTus(relay, phone.token, url, 0, bytes.subarray(0, 70_000))).status, 204);
    const done = await patchTus(relay, phone.token, url, 70_000, bytes.subarray(70_000), { 'upload-length': String(bytes.length) });
    assert.equal(done.status, 204);
    assert.equal((await assetOf(done.headers.get('x-asset-id')!)).blobSha256, sha256(bytes));
  });

  it('a PATCH at the wrong offset is 409 conflict and changes nothing', async () => {
    const bytes = jpeg(100_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('wrong-offset'));
    assert.equal((await patchTus(relay, phone.token, url, 0, bytes.subarray(0, 40_000))).status, 204);
    for (const offset of [0, 39_999, 40_001]) {
      const res = await patchTus(relay, phone.token, url, offset, bytes.subarray(offset, offset + 1000));
      assertError(res, 409, 'conflict');
    }
    assert.equal((await call(relay, phone.token, 'HEAD', url, TUS)).headers.get('upload-offset'), '40000');
    const done = await patchTus(relay, phone.token, url, 40_000, bytes.subarray(40_000));
    assert.equal((await assetOf(done.headers.get('x-asset-id')!)).blobSha256, sha256(bytes));
  });

  it('Upload-Checksum: a mismatch is 460 and the offset does not move; matching sha256 and sha1 checksums are taken', async () => {
    const bytes = jpeg(150_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('checksum'));
    const first = bytes.subarray(0, 80_000);
    const ok = await patchTus(relay, phone.token, url, 0, first, { 'upload-checksum': `sha256 ${b64digest('sha256', first)}` });
    assert.equal(ok.status, 204);
    const second = bytes.subarray(80_000);
    const wrong = Buffer.from(second);
    wrong[10] = wrong[10]! ^ 0xff;
    const bad = await patchTus(relay, phone.token, url, 80_000, wrong, { 'upload-checksum': `sha256 ${b64digest('sha256', second)}` });
    assert.equal(bad.status, 460);
    assert.equal(bad.body.code, 'hash_mismatch');
    assert.equal((await call(relay, phone.token, 'HEAD', url, TUS)).headers.get('upload-offset'), '80000');
    assert.equal(
      (await stat(partPath(relay, url))).size,
      80_000,
      'the refused bytes stayed on disk',
    );
    const bad1 = await patchTus(relay, phone.token, url, 80_000, wrong, { 'upload-checksum': `sha1 ${b64digest('sha1', second)}` });
    assert.equal(bad1.status, 460);
    assertError(await patchTus(relay, phone.token, url, 80_000, second, { 'upload-checksum': `md5 AAAA` }), 400, 'validation_failed');
    const done = await patchTus(relay, phone.token, url, 80_000, second, { 'upload-checksum': `sha1 ${b64digest('sha1', second)}` });
    assert.equal(done.status, 204);
    assert.equal((await assetOf(done.headers.get('x-asset-id')!)).blobSha256, sha256(bytes));
  });

  it('two concurrent appends to one upload: the second is refused with 423 while the first streams, which then completes', async () => {
    const bytes = jpeg(200_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('concurrent'));
    const conn = await openTusPatch(relay.url, phone.token, url, 0, bytes.length, true);
    await conn.write(bytes.subarray(0, 50_000));
    // Let the first request take the lock before the second arrives.
    await new Promise((r) => setTimeout(r, 300));
    const second = await patchTus(relay, phone.token, url, 0, bytes);
    assertError({ ...second, text: JSON.stringify(second.body) }, 423, 'conflict');
    await conn.write(bytes.subarray(50_000));
    const res = await conn.responseWithin(10_000);
    conn.socket.destroy();
    assert.equal(res?.status, 204, res?.text);
    assert.equal((await assetOf(res!.headers['x-asset-id']!)).blobSha256, sha256(bytes));
  });

  it('a client sending its next append the instant the previous one is answered never finds the upload locked', async () => {
    const bytes = jpeg(200_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('back-to-back'));
    const step = 10_000;
    const head = (offset: number, length: number) =>
      requestHead('PATCH', url, {
        Authorization: `Bearer ${phone.token}`,
        'Tus-Resumable': '1.0.0',
        'Content-Type': 'application/offset+octet-stream',
        'Upload-Offset': offset,
        'Content-Length': length,
        Connection: 'close',
      });
    let next = await RawConnection.open(relay.url);
    for (let offset = 0; offset < bytes.length; offset += step) {
      const current = next;
      const chunk = bytes.subarray(offset, offset + step);
      // The next request waits on its own connection, all but its last byte sent, to go out the moment this one
      // is answered: as fast as any client can follow.
      const following = offset + step < bytes.length ? await RawConnection.open(relay.url) : undefined;
      const nextChunk = bytes.subarray(offset + step, offset + 2 * step);
      const nextHead = following ? head(offset + step, nextChunk.length) : '';
      if (following) await following.write(nextHead.slice(0, -1));
      current.socket.once('data', () => {
        if (following) void following.write(Buffer.concat([Buffer.from(nextHead.slice(-1)), nextChunk]));
      });
      if (offset === 0) await current.write(Buffer.concat([Buffer.from(head(0, chunk.length), 'latin1'), chunk]));
      const res = await current.responseWithin(10_000);
      current.socket.destroy();
      assert.equal(res?.status, 204, `append at ${offset}: ${res?.text}`);
      if (offset + step >= bytes.length) {
        assert.equal((await assetOf(res!.headers['x-asset-id']!)).blobSha256, sha256(bytes));
      }
      if (following) next = following;
    }
  });

  it('a PATCH cut mid-body keeps the bytes that arrived (fsynced) and the upload resumes from them', async () => {
    const bytes = jpeg(3_000_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('cut'));
    const conn = await openTusPatch(relay.url, phone.token, url, 0, bytes.length);
    await conn.write(bytes.subarray(0, 2_500_000));
    await new Promise((r) => setTimeout(r, 500));
    conn.socket.destroy();
    let offset = 0;
    for (let i = 0; i < 100 && offset === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const head = await call(relay, phone.token, 'HEAD', url, TUS);
      if (head.status === 200) offset = Number(head.headers.get('upload-offset'));
    }
    assert.ok(offset > 0 && offset <= 2_500_000, `offset after the cut: ${offset}`);
    let done = await patchTus(relay, phone.token, url, offset, bytes.subarray(offset));
    for (let i = 0; i < 50 && done.status === 423; i++) {
      await new Promise((r) => setTimeout(r, 100));
      done = await patchTus(relay, phone.token, url, offset, bytes.subarray(offset));
    }
    assert.equal(done.status, 204, JSON.stringify(done.body));
    assert.equal((await assetOf(done.headers.get('x-asset-id')!)).blobSha256, sha256(bytes));
  });

  it('a declared sha256 that does not match: 422 hash_mismatch, nothing registered, no residue', async () => {
    const before = await residue(relay);
    const bytes = jpeg(60_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('bad-hash', { sha256: sha256(jpeg(10)) }));
    const res = await patchTus(relay, phone.token, url, 0, bytes);
    assertError({ ...res, text: JSON.stringify(res.body) }, 422, 'hash_mismatch');
    await assertNoResidue(relay, before);
    assert.deepEqual(await partFiles(relay), []);
    assert.equal((await call(relay, phone.token, 'HEAD', url, TUS)).status, 404);
  });

  it('content that is not a photo or video: 415 once its head is in, the upload gone', async () => {
    const before = await residue(relay);
    const bytes = notMedia(200_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('not-media'));
    const res = await patchTus(relay, phone.token, url, 0, bytes.subarray(0, 100_000));
    assertError({ ...res, text: JSON.stringify(res.body) }, 415, 'unsupported_media_type');
    await assertNoResidue(relay, before);
    assert.deepEqual(await partFiles(relay), []);
  });

  it("another device's upload does not exist for this one: 404 on HEAD, PATCH and DELETE", async () => {
    const bytes = jpeg(10_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('mine'));
    assert.equal((await call(relay, other.token, 'HEAD', url, TUS)).status, 404);
    assertError(await patchTus(relay, other.token, url, 0, bytes), 404, 'not_found');
    assertError(await call(relay, other.token, 'DELETE', url, TUS), 404, 'not_found');
    assert.equal((await call(relay, phone.token, 'HEAD', url, TUS)).status, 200);
    assert.equal((await call(relay, phone.token, 'HEAD', '/api/v1/uploads/not-an-id', TUS)).status, 404);
  });

  it('a device revoked mid-upload: its next PATCH is 401 at once, though its token was just seen (cached); nothing registered', async () => {
    const admin = new Client(relay.url);
    const doomed = await admin.pairDevice(
      (await relay.services.db.device.findUniqueOrThrow({ where: { id: phone.deviceId } })).accountId,
      'Doomed',
    );
    const bytes = jpeg(60_000);
    const url = await createTus(relay, doomed.token, bytes.length, fields('revoked'));
    assert.equal((await patchTus(relay, doomed.token, url, 0, bytes.subarray(0, 30_000))).status, 204);
    assert.equal((await admin.call('DELETE', `/api/v1/admin/devices/${doomed.deviceId}`)).status, 204);
    assertError(await patchTus(relay, doomed.token, url, 30_000, bytes.subarray(30_000)), 401, 'unauthorized');
    assert.equal(await relay.services.db.asset.count({ where: { blobSha256: sha256(bytes) } }), 0);
    assert.equal((await call(relay, doomed.token, 'HEAD', url, TUS)).status, 401);
    // What it left is the expiry sweep's; removed now, as later tests count part files.
    const id = url.split('/').pop()!;
    await relay.services.db.resumableUpload.delete({ where: { id } });
    await rm(partPath(relay, id));
  });

  it('DELETE removes the bytes and the upload (204), then 404', async () => {
    const bytes = jpeg(100_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('deleted'));
    assert.equal((await patchTus(relay, phone.token, url, 0, bytes.subarray(0, 50_000))).status, 204);
    assert.equal((await partFiles(relay)).length, 1);
    assert.equal((await call(relay, phone.token, 'DELETE', url, TUS)).status, 204);
    assert.deepEqual(await partFiles(relay), []);
    assert.equal((await call(relay, phone.token, 'HEAD', url, TUS)).status, 404);
    assertError(await patchTus(relay, phone.token, url, 50_000, bytes.subarray(50_000)), 404, 'not_found');
  });

  it('bad requests: no Tus-Resumable, a wrong version (412), both or neither length headers, a length over the limit, bad metadata', async () => {
    const post = (headers: Record<string, string>) => call(relay, phone.token, 'POST', '/api/v1/uploads', headers);
    const meta = metadata(fields('bad'));
    assertError(await post({ 'upload-length': '10', 'upload-metadata': meta }), 400, 'validation_failed');
    const wrong = await post({ 'tus-resumable': '0.2.2', 'upload-length': '10', 'upload-metadata': meta });
    assert.equal(wrong.status, 412);
    assert.equal(wrong.headers.get('tus-version'), '1.0.0');
    assertError(await post({ ...TUS, 'upload-metadata': meta }), 400, 'validation_failed');
    assertError(
      await post({ ...TUS, 'upload-length': '10', 'upload-defer-length': '1', 'upload-metadata': meta }),
      400,
      'validation_failed',
    );
    assertError(await post({ ...TUS, 'upload-length': '-1', 'upload-metadata': meta }), 400, 'validation_failed');
    assertError(
      await post({ ...TUS, 'upload-length': String(relay.config.maxUploadBytes + 1), 'upload-metadata': meta }),
      413,
      'payload_too_large',
    );
    assertError(
      await post({ ...TUS, 'upload-length': '10', 'upload-metadata': metadata({ fileName: 'x.jpg' }) }),
      400,
      'validation_failed',
    );
    assertError(await post({ ...TUS, 'upload-length': '10', 'upload-metadata': 'deviceAssetId !!!' }), 400, 'validation_failed');
    assertError(
      await post({ ...TUS, 'upload-length': '10', 'upload-metadata': metadata(fields('a', { fileCreatedAt: 'yesterday' })) }),
      400,
      'validation_failed',
    );
    assertError(
      await post({ ...TUS, 'upload-length': '10', 'upload-metadata': metadata(fields('a', { sha256: 'xyz' })) }),
      400,
      'validation_failed',
    );
    const unauth = await fetch(`${relay.url}/api/v1/uploads`, { method: 'POST', headers: { ...TUS, 'upload-length': '10' } });
    assert.equal(unauth.status, 401);
    // More bytes than the declared length: refused, nothing appended.
    const url = await createTus(relay, phone.token, 1000, fields('too-long'));
    assertError(await patchTus(relay, phone.token, url, 0, jpeg(2000)), 400, 'validation_failed');
    assert.equal((await call(relay, phone.token, 'HEAD', url, TUS)).headers.get('upload-offset'), '0');
    // A PATCH without the tus content type.
    assertError(
      await call(relay, phone.token, 'PATCH', url, { ...TUS, 'upload-offset': '0', 'content-type': 'image/jpeg' }, jpeg(100)),
      400,
      'validation_failed',
    );
  });

  it('expiration: an upload past Upload-Expires is 404 and the sweep removes its row and bytes', async () => {
    const bytes = jpeg(100_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('expiring'));
    assert.equal((await patchTus(relay, phone.token, url, 0, bytes.subarray(0, 30_000))).status, 204);
    const id = url.split('/').pop()!;
    const realClock = relay.services.clock;
    relay.services.clock = () => new Date(Date.now() + 25 * 60 * 60 * 1000);
    try {
      assert.equal((await call(relay, phone.token, 'HEAD', url, TUS)).status, 404);
      assert.ok((await sweepResumableUploads(relay.services)) >= 1);
      assert.equal(await relay.services.db.resumableUpload.count({ where: { id } }), 0);
      assert.ok(!(await partFiles(relay)).includes(`${id}.part`));
    } finally {
      relay.services.clock = realClock;
    }
  });
});

describe('two relays on one database and spool', () => {
  it('an append streaming through one relay makes the other refuse a second append to the same upload (423)', async () => {
    const bytes = jpeg(200_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('two-relays'));
    const second = await startSibling(relay);
    try {
      const conn = await openTusPatch(relay.url, phone.token, url, 0, bytes.length, true);
      await conn.write(bytes.subarray(0, 50_000));
      await new Promise((r) => setTimeout(r, 300));
      const refused = await patchTus(second, phone.token, url, 0, bytes);
      assertError({ ...refused, text: JSON.stringify(refused.body) }, 423, 'conflict');
      assertError(await call(second, phone.token, 'DELETE', url, TUS), 423, 'conflict');
      await conn.write(bytes.subarray(50_000));
      const res = await conn.responseWithin(10_000);
      conn.socket.destroy();
      assert.equal(res?.status, 204, res?.text);
      assert.equal((await assetOf(res!.headers['x-asset-id']!)).blobSha256, sha256(bytes));
    } finally {
      await second.close();
    }
  });
});

describe('restart', () => {
  it('an upload whose bytes were all durable when the relay died before completing it is completed by the next HEAD', async () => {
    const bytes = jpeg(80_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('head-completes'));
    const id = url.split('/').pop()!;
    // The state a crash between the last append's offset record and its registration leaves.
    await writeFile(partPath(relay, id), bytes);
    await relay.services.db.resumableUpload.update({ where: { id }, data: { offset: BigInt(bytes.length) } });
    const head = await call(relay, phone.token, 'HEAD', url, TUS);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('upload-offset'), String(bytes.length));
    assert.equal((await assetOf(head.headers.get('x-asset-id')!)).blobSha256, sha256(bytes));
    assert.ok(!(await partFiles(relay)).includes(`${id}.part`));
  });

  it('a device may hold 100 unfinished uploads; the next creation is 429 until one is finished or deleted', async () => {
    const admin = new Client(relay.url);
    const busy = await admin.pairDevice(await admin.createAccount('Busy'), 'Busy phone');
    const urls = [];
    for (let i = 0; i < 100; i++) urls.push(await createTus(relay, busy.token, 1000, fields(`open-${i}`)));
    const refused = await call(relay, busy.token, 'POST', '/api/v1/uploads', {
      ...TUS,
      'upload-length': '1000',
      'upload-metadata': metadata(fields('one-more')),
    });
    assertError(refused, 429, 'rate_limited');
    assert.equal((await call(relay, busy.token, 'DELETE', urls[0]!, TUS)).status, 204);
    await createTus(relay, busy.token, 1000, fields('one-more'));
  });

  it('appends alternating between two relays, with garbage past the offset between them, complete with the right hash (each relay keeps the file open between appends)', async () => {
    const bytes = jpeg(500_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('alternate'));
    const part = partPath(relay, url);
    const second = await startSibling(relay);
    try {
      const cuts = [0, 100_000, 200_000, 300_000, 400_000, bytes.length];
      for (let i = 0; i < 5; i++) {
        // Written and never acknowledged (a crash between write and fsync): a relay's open file must not keep it.
        await appendFile(part, Buffer.alloc(3000, 0xaa));
        const res = await patchTus(i % 2 ? second : relay, phone.token, url, cuts[i]!, bytes.subarray(cuts[i], cuts[i + 1]));
        assert.equal(res.status, 204, JSON.stringify(res.body));
        if (i === 4) assert.equal((await assetOf(res.headers.get('x-asset-id')!)).blobSha256, sha256(bytes));
      }
    } finally {
      await second.close();
    }
  });

  it('a part file removed by hand between two appends: the next one is 409 with the bytes the relay really holds, and the upload starts over', async () => {
    const bytes = jpeg(300_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('removed'));
    assert.equal((await patchTus(relay, phone.token, url, 0, bytes.subarray(0, 100_000))).status, 204);
    // The relay kept the file open for the next append: it must not write where nothing can read it back.
    await rm(partPath(relay, url));
    const lost = await patchTus(relay, phone.token, url, 100_000, bytes.subarray(100_000, 200_000));
    assertError(lost, 409, 'conflict');
    assert.equal((await call(relay, phone.token, 'HEAD', url, TUS)).headers.get('upload-offset'), '0');
    assert.equal((await patchTus(relay, phone.token, url, 0, bytes)).status, 204);
    assert.equal(await relay.services.db.asset.count({ where: { blobSha256: sha256(bytes) } }), 1);
  });

  it('a new relay on the same database and spool answers the fsynced offset, cuts unacknowledged bytes, and completes with the right hash', async () => {
    const bytes = jpeg(400_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('restart'));
    assert.equal((await patchTus(relay, phone.token, url, 0, bytes.subarray(0, 150_000))).status, 204);
    // Bytes written but never acknowledged (a crash between write and fsync): garbage past the durable offset.
    await appendFile(partPath(relay, url), Buffer.alloc(5000, 0xaa));

    const second = await startSibling(relay);
    try {
      const head = await call(second, phone.token, 'HEAD', url, TUS);
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('upload-offset'), '150000');
      const done = await patchTus(second, phone.token, url, 150_000, bytes.subarray(150_000));
      assert.equal(done.status, 204, JSON.stringify(done.body));
      assert.equal((await assetOf(done.headers.get('x-asset-id')!)).blobSha256, sha256(bytes));
    } finally {
      await second.close();
    }
  });
});
