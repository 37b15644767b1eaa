import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BatchingScheduler } from '../src/ledger/scheduler-batch.ts';
import { Client } from './helpers/client.ts';
import { ADMIN_TOKEN, residue, startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg, mp4, png, sha256 } from './helpers/media.ts';

let relay: TestRelay;
let admin: Client;

before(async () => {
  relay = await startRelay();
  admin = new Client(relay.url);
});
after(() => relay.close());

describe('pairing', () => {
  it('exchanges a one-time code for a device token that works at once', async () => {
    const accountId = await admin.createAccount('Alice');
    const pairing = await admin.call('POST', `/api/v1/admin/accounts/${accountId}/pairings`);
    assert.equal(pairing.status, 201);
    assert.match(pairing.body.code, /^[0-9A-Z]{5}-[0-9A-Z]{5}$/);
    assert.ok(pairing.body.pairUrl.includes(encodeURIComponent(pairing.body.code)));
    const expiresIn = Date.parse(pairing.body.expiresAt) - Date.now();
    assert.ok(expiresIn > 14 * 60_000 && expiresIn <= 15 * 60_000);

    const anonymous = admin.as('');
    const paired = await anonymous.call('POST', '/api/v1/pair', {
      code: pairing.body.code.toLowerCase(),
      name: 'Pixel 8',
      platform: 'android',
    });
    assert.equal(paired.status, 201);
    assert.equal(paired.body.accountId, accountId);
    assert.match(paired.body.token, /^prd_[A-Za-z0-9_-]{43}$/);

    const me = await admin.as(paired.body.token).call('GET', '/api/v1/device');
    assert.equal(me.status, 200);
    assert.equal(me.body.id, paired.body.deviceId);
    assert.equal(me.body.name, 'Pixel 8');
    assert.equal(me.body.bytesReceived, 0);
    assert.deepEqual(me.body.counts, { pending: 0, uploading: 0, backedUp: 0, failed: 0, needsReauth: 0, paused: 0 });
    assert.ok(me.body.lastSeenAt);

    // Only the hash of the token is stored.
    const row = await relay.services.db.device.findUniqueOrThrow({ where: { id: paired.body.deviceId } });
    assert.notEqual(row.tokenHash, paired.body.token);
    assert.equal(row.tokenHash.length, 64);

    const again = await anonymous.call('POST', '/api/v1/pair', { code: pairing.body.code, name: 'Thief', platform: 'android' });
    assert.equal(again.status, 404);
    assert.equal(again.body.code, 'not_found');
  });

  it('refuses expired, unknown and malformed codes', async () => {
    const accountId = await admin.createAccount('Bob');
    const pairing = await admin.call('POST', `/api/v1/admin/accounts/${accountId}/pairings`);
    await relay.services.db.pairingCode.updateMany({ where: { accountId }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const anonymous = admin.as('');
    const expired = await anonymous.call('POST', '/api/v1/pair', { code: pairing.body.code, name: 'x', platform: 'ios' });
    assert.deepEqual([expired.status, expired.body.code], [404, 'not_found']);
    const unknown = await anonymous.call('POST', '/api/v1/pair', { code: 'ABCDE-FGHJK', name: 'x', platform: 'ios' });
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'not_found']);
    const malformed = await anonymous.call('POST', '/api/v1/pair', { code: 'hello', name: 'x', platform: 'ios' });
    assert.deepEqual([malformed.status, malformed.body.code], [400, 'validation_failed']);
    const missing = await anonymous.call('POST', '/api/v1/pair', { name: 'x', platform: 'ios' });
    assert.deepEqual([missing.status, missing.body.code], [400, 'validation_failed']);
    assert.equal(await relay.services.db.device.count({ where: { accountId } }), 0);
  });

  it('rate-limits guessing per client, counting failures only', async () => {
    const strict = await startRelay({ PAIRING_MAX_FAILURES: '3', AUTH_MAX_FAILURES: '2' });
    try {
      const strictAdmin = new Client(strict.url);
      const accountId = await strictAdmin.createAccount('Zed');
      // Successful pairings cost nothing.
      for (let i = 0; i < 4; i++) await strictAdmin.pairDevice(accountId, `phone-${i}`);
      const anonymous = strictAdmin.as('');
      const guess = () => anonymous.call('POST', '/api/v1/pair', { code: 'ZZZZZ-ZZZZZ', name: 'x', platform: 'ios' });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await guess()).status);
      assert.deepEqual(statuses, [404, 404, 404, 429]);
      const blocked = await guess();
      assert.equal(blocked.body.code, 'rate_limited');
      // Even a valid code is refused to a client that has been guessing.
      const pairing = await strictAdmin.call('POST', `/api/v1/admin/accounts/${accountId}/pairings`);
      assert.equal((await anonymous.call('POST', '/api/v1/pair', { code: pairing.body.code, name: 'x', platform: 'ios' })).status, 429);

      // Failed authentication is limited the same way.
      assert.equal((await strictAdmin.as('wrong').call('GET', '/api/v1/admin/accounts')).status, 401);
      assert.equal((await strictAdmin.as('wrong').call('GET', '/api/v1/admin/accounts')).status, 401);
      assert.equal((await strictAdmin.as('wrong').call('GET', '/api/v1/admin/accounts')).body.code, 'rate_limited');
    } finally {
      await strict.close();
    }
  });
});

describe('authentication', () => {
  it('separates device and admin tokens and stops revoked devices at once', async () => {
    const accountId = await admin.createAccount('Carol');
    const phone = await admin.pairDevice(accountId);
    assert.equal((await admin.as('').call('GET', '/api/v1/device')).body.code, 'unauthorized');
    assert.equal((await admin.as('prd_wrong').call('GET', '/api/v1/device')).status, 401);
    const adminOnDevice = await admin.call('GET', '/api/v1/device');
    assert.deepEqual([adminOnDevice.status, adminOnDevice.body.code], [403, 'forbidden']);
    const deviceOnAdmin = await phone.call('GET', '/api/v1/admin/accounts');
    assert.deepEqual([deviceOnAdmin.status, deviceOnAdmin.body.code], [403, 'forbidden']);
    assert.equal((await admin.as('not-the-admin-token').call('GET', '/api/v1/admin/accounts')).status, 401);

    assert.equal((await phone.call('GET', '/api/v1/device')).status, 200);
    await relay.services.db.device.update({ where: { id: phone.deviceId }, data: { revokedAt: new Date() } });
    const revoked = await phone.call('GET', '/api/v1/device');
    assert.deepEqual([revoked.status, revoked.body.code], [401, 'unauthorized']);
    const upload = await phone.upload(jpeg());
    assert.equal(upload.status, 401);
  });

  it('a device revoked while its upload door remembers its token: the upload is refused as it commits, nothing recorded', async () => {
    const phone = await admin.pairDevice(await admin.createAccount('Cleo'));
    // The door remembers a token it found valid for a few seconds: this upload's lookup makes the next one skip it.
    assert.equal((await phone.upload(jpeg(30_000))).status, 201);
    assert.equal((await admin.call('DELETE', `/api/v1/admin/devices/${phone.deviceId}`)).status, 204);
    const before = await residue(relay);
    const photo = jpeg(31_000);
    const upload = await phone.upload(photo);
    assert.deepEqual([upload.status, upload.body.code], [401, 'unauthorized']);
    const after = await residue(relay);
    assert.deepEqual(after.rows, before.rows, 'no blob, asset or delivery row');
    assert.deepEqual(after.tempFiles, []);
    assert.ok(!after.blobFiles.includes(relay.services.blobs.pathOf(sha256(photo))), 'no blob file');
    const device = await relay.services.db.device.findUniqueOrThrow({ where: { id: phone.deviceId } });
    assert.equal(Number(device.bytesReceived), 30_000, 'the refused bytes are not counted');
  });
});

describe('assets', () => {
  it('uploads, deduplicates per device and reports per-device state', async () => {
    const accountId = await admin.createAccount('Dora');
    const phone = await admin.pairDevice(accountId);
    const bytes = jpeg(50_000);
    const first = await phone.upload(
      bytes,
      { deviceAssetId: 'a-1', fileCreatedAt: '2024-05-01T10:00:00Z', sha256: sha256(bytes) },
      'IMG_1.jpg',
    );
    assert.equal(first.status, 201);
    assert.deepEqual(first.body, {
      id: first.body.id,
      sha256: sha256(bytes),
      size: 50_000,
      mimeType: 'image/jpeg',
      state: 'pending',
      duplicate: false,
    });

    const again = await phone.upload(bytes, { deviceAssetId: 'a-1' });
    assert.equal(again.status, 200);
    assert.equal(again.body.id, first.body.id);
    assert.equal(again.body.duplicate, true);

    const asset = await phone.call('GET', `/api/v1/assets/${first.body.id}`);
    assert.equal(asset.status, 200);
    assert.equal(asset.body.fileName, 'IMG_1.jpg');
    assert.equal(asset.body.deviceAssetId, 'a-1');
    assert.equal(asset.body.fileCreatedAt, '2024-05-01T10:00:00.000Z');
    assert.equal(asset.body.state, 'pending');
    assert.equal(asset.body.googleMediaItemId, null);
    assert.equal(asset.body.attempts, 0);

    const me = await phone.call('GET', '/api/v1/device');
    assert.equal(me.body.counts.pending, 1);
    assert.equal(me.body.bytesReceived, 100_000);

    // Hand-off to forwarding: one pending delivery row and one job that names it (a hint sent after the answer).
    const deliveries = await relay.services.db.delivery.findMany({ where: { accountId } });
    assert.equal(deliveries.length, 1);
    assert.equal(deliveries[0]!.state, 'pending');
    await (relay.services.scheduler as BatchingScheduler).settled();
    const job = await relay.services.queues.uploads.getJob(deliveries[0]!.id);
    assert.equal(job?.data.deliveryId, deliveries[0]!.id);
  });

  it("counts every byte of a phone's parallel uploads, each counted by the time its answer comes", async () => {
    const phone = await admin.pairDevice(await admin.createAccount('Dora'));
    // Parallel uploads of one device finish together: their counts go in shared statements (DeviceTraffic).
    const photos = Array.from({ length: 12 }, (_, i) => jpeg(4_000 + i * 1_000));
    const answers = await Promise.all(photos.map((bytes, i) => phone.upload(bytes, { deviceAssetId: `p-${i}` })));
    assert.deepEqual(answers.map((a) => a.status), photos.map(() => 201));
    const me = await phone.call('GET', '/api/v1/device');
    assert.equal(me.body.bytesReceived, photos.reduce((sum, p) => sum + p.length, 0));
    assert.ok(Date.now() - Date.parse(me.body.lastSeenAt) < 60_000);
  });

  it('accepts photos and videos judged by content, whatever the name', async () => {
    const phone = await admin.pairDevice(await admin.createAccount('Eve'));
    const video = await phone.upload(mp4(10_000), {}, 'clip.bin');
    assert.deepEqual([video.status, video.body.mimeType], [201, 'video/mp4']);
    const image = await phone.upload(png(), {}, 'picture.jpg');
    assert.deepEqual([image.status, image.body.mimeType], [201, 'image/png']);
  });

  it("hides another device's asset and rejects malformed ids", async () => {
    const accountId = await admin.createAccount('Finn');
    const a = await admin.pairDevice(accountId, 'A');
    const b = await admin.pairDevice(accountId, 'B');
    const up = await a.upload(jpeg());
    assert.equal((await b.call('GET', `/api/v1/assets/${up.body.id}`)).body.code, 'not_found');
    assert.equal((await a.call('GET', '/api/v1/assets/not-an-id')).status, 404);
  });

  it('check lists what is missing; by-hash registers what the account holds', async () => {
    const accountId = await admin.createAccount('Gus');
    const a = await admin.pairDevice(accountId, 'A');
    const sibling = await admin.pairDevice(accountId, 'A2');
    const held = jpeg();
    const notHeld = jpeg();
    await a.upload(held);
    const check = await sibling.call('POST', '/api/v1/assets/check', {
      sha256: [sha256(held), sha256(notHeld), sha256(notHeld).toUpperCase()],
    });
    assert.equal(check.status, 200);
    assert.deepEqual(check.body.missing, [sha256(notHeld)]);

    const registered = await sibling.call('POST', '/api/v1/assets/by-hash', {
      sha256: sha256(held),
      deviceAssetId: 'h-1',
      fileName: 'IMG_9.jpg',
    });
    assert.equal(registered.status, 201);
    assert.equal(registered.body.duplicate, false);
    assert.equal(registered.body.state, 'pending');
    const twice = await sibling.call('POST', '/api/v1/assets/by-hash', { sha256: sha256(held), deviceAssetId: 'h-1', fileName: 'IMG_9.jpg' });
    assert.deepEqual([twice.status, twice.body.id, twice.body.duplicate], [200, registered.body.id, true]);
    const unknown = await sibling.call('POST', '/api/v1/assets/by-hash', {
      sha256: sha256(notHeld),
      deviceAssetId: 'h-2',
      fileName: 'x.jpg',
    });
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'not_found']);
    // Two devices of one account: one blob, one delivery.
    assert.equal(await relay.services.db.blob.count({ where: { sha256: sha256(held) } }), 1);
    assert.equal(await relay.services.db.delivery.count({ where: { blobSha256: sha256(held) } }), 1);

    const bad = await sibling.call('POST', '/api/v1/assets/check', { sha256: [] });
    assert.deepEqual([bad.status, bad.body.code], [400, 'validation_failed']);
    const tooMany = await sibling.call('POST', '/api/v1/assets/check', { sha256: Array.from({ length: 1001 }, () => sha256(jpeg(10))) });
    assert.equal(tooMany.status, 400);
  });

  it('a hash is never a key to another account\'s photo: check says missing, by-hash 404, the bytes are sent and stored once', async () => {
    const mine = await admin.pairDevice(await admin.createAccount('Gwen'), 'G');
    const theirs = await admin.pairDevice(await admin.createAccount('Hal'), 'H');
    const photo = jpeg();
    assert.equal((await mine.upload(photo)).status, 201);

    const check = await theirs.call('POST', '/api/v1/assets/check', { sha256: [sha256(photo)] });
    assert.deepEqual(check.body.missing, [sha256(photo)]);
    const byHash = await theirs.call('POST', '/api/v1/assets/by-hash', { sha256: sha256(photo), deviceAssetId: 'x', fileName: 'x.jpg' });
    assert.deepEqual([byHash.status, byHash.body.code], [404, 'not_found']);
    assert.equal(await relay.services.db.asset.count({ where: { blobSha256: sha256(photo) } }), 1, 'nothing registered for the other account');

    // The other account's own device sends the bytes: a new asset and delivery, still one blob and one file.
    const sent = await theirs.upload(photo);
    assert.deepEqual([sent.status, sent.body.duplicate], [201, false]);
    assert.equal(await relay.services.db.blob.count({ where: { sha256: sha256(photo) } }), 1);
    assert.equal(await relay.services.db.delivery.count({ where: { blobSha256: sha256(photo) } }), 2);
    const again = await theirs.call('POST', '/api/v1/assets/check', { sha256: [sha256(photo)] });
    assert.deepEqual(again.body.missing, []);
  });

  it('content already delivered to the account is not missing, and by-hash registers it as backed up', async () => {
    const accountId = await admin.createAccount('Ivy');
    const a = await admin.pairDevice(accountId, 'A');
    const b = await admin.pairDevice(accountId, 'B');
    const bytes = jpeg();
    await a.upload(bytes);
    const hash = sha256(bytes);
    // Forwarding finished and retention removed the bytes.
    await relay.services.db.delivery.updateMany({
      where: { blobSha256: hash },
      data: { state: 'backed_up', mediaItemId: 'm-1', backedUpAt: new Date() },
    });
    await relay.services.db.blob.update({ where: { sha256: hash }, data: { stored: false } });
    assert.deepEqual((await b.call('POST', '/api/v1/assets/check', { sha256: [hash] })).body.missing, []);
    const reg = await b.call('POST', '/api/v1/assets/by-hash', { sha256: hash, deviceAssetId: 'b-1', fileName: 'IMG.jpg' });
    assert.deepEqual([reg.status, reg.body.state], [201, 'backed_up']);
    const other = await admin.pairDevice(await admin.createAccount('Jo'));
    assert.deepEqual((await other.call('POST', '/api/v1/assets/check', { sha256: [hash] })).body.missing, [hash]);
  });

  it('lists assets by state and since, across pages', async () => {
    const phone = await admin.pairDevice(await admin.createAccount('Kim'));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await phone.upload(jpeg(), { deviceAssetId: `k-${i}` })).body.id);
    await relay.services.db.delivery.updateMany({
      where: {
        blobSha256: { in: (await relay.services.db.asset.findMany({ where: { id: { in: ids.slice(0, 3) } } })).map((a) => a.blobSha256) },
      },
      data: { state: 'backed_up', backedUpAt: new Date(), mediaItemId: 'm' },
    });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/api/v1/assets?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await phone.call('GET', q);
      assert.equal(page.status, 200);
      assert.ok(page.body.items.length <= 2);
      seen.push(...page.body.items.map((i: { id: string }) => i.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, ids);
    const safe = await phone.call('GET', '/api/v1/assets?state=backed_up');
    assert.deepEqual(
      safe.body.items.map((i: { id: string }) => i.id),
      ids.slice(0, 3),
    );
    const future = await phone.call('GET', `/api/v1/assets?state=backed_up&since=${new Date(Date.now() + 60_000).toISOString()}`);
    assert.deepEqual(future.body.items, []);
    assert.equal((await phone.call('GET', '/api/v1/assets?state=lost')).status, 400);
    assert.equal((await phone.call('GET', '/api/v1/assets?cursor=garbage')).body.code, 'validation_failed');
  });
});

describe('admin accounts', () => {
  it('creates, lists and gets accounts with their counts', async () => {
    const id = await admin.createAccount('Lee');
    const phone = await admin.pairDevice(id);
    await phone.upload(jpeg(1000));
    const one = await admin.call('GET', `/api/v1/admin/accounts/${id}`);
    assert.equal(one.status, 200);
    assert.equal(one.body.name, 'Lee');
    assert.deepEqual(one.body.google, { status: 'unlinked', health: 'unlinked' });
    assert.equal(one.body.forwarding, 'active');
    assert.equal(one.body.devices, 1);
    assert.equal(one.body.counts.pending, 1);
    assert.equal(one.body.backlogBytes, 1000);
    const list = await admin.call('GET', '/api/v1/admin/accounts?limit=1000');
    assert.ok(list.body.items.some((a: { id: string }) => a.id === id));
    assert.equal((await admin.call('GET', '/api/v1/admin/accounts/00000000-0000-7000-8000-000000000000')).body.code, 'not_found');
    assert.equal((await admin.call('POST', '/api/v1/admin/accounts', { name: '' })).body.code, 'validation_failed');
    assert.equal((await admin.call('POST', '/api/v1/admin/accounts', '{"name":')).body.code, 'validation_failed');
    assert.equal((await admin.call('POST', '/api/v1/admin/accounts/00000000-0000-7000-8000-000000000000/pairings')).status, 404);
  });
});

it('uses the configured admin token only', () => assert.equal(relay.config.adminToken, ADMIN_TOKEN));
