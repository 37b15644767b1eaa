import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startRig, TEST_ENCRYPTION_KEY, waitFor, type Rig } from './helpers/rig.ts';
import { TokenCipher } from '../src/google/token-cipher.ts';
import { jpeg, mp4, sha256 } from './helpers/media.ts';

let rig: Rig;
before(async () => {
  rig = await startRig();
});
after(() => rig.close());

it('forwards a stored photo to the account\'s library exactly once and marks it backed up', async () => {
  const accountId = await rig.admin.createAccount('Alice');
  await rig.link(accountId, 'alice@example.com');
  const account = await rig.admin.call('GET', `/api/v1/admin/accounts/${accountId}`);
  assert.equal(account.body.google.status, 'linked');
  assert.equal(account.body.google.email, 'alice@example.com');
  const stored = await rig.relay.services.db.account.findUniqueOrThrow({ where: { id: accountId } });
  const plaintext = new TokenCipher(Buffer.from(TEST_ENCRYPTION_KEY, 'base64')).open(stored.googleRefreshToken!, accountId);
  assert.ok(plaintext.length > 10);
  assert.ok(!Buffer.from(stored.googleRefreshToken!).includes(plaintext), 'refresh token encrypted at rest');

  const phone = await rig.admin.pairDevice(accountId);
  const photo = jpeg(20_000);
  const video = mp4(40_000);
  const up = await phone.upload(photo, { deviceAssetId: 'p1' }, 'IMG_1.jpg');
  await phone.upload(video, { deviceAssetId: 'v1' }, 'VID_1.mp4');
  const asset = await waitFor('backed up', async () => {
    const a = await phone.call('GET', `/api/v1/assets/${up.body.id}`);
    return a.body.state === 'backed_up' ? a.body : null;
  });
  assert.ok(asset.googleMediaItemId);
  assert.ok(asset.backedUpAt);
  await waitFor('both backed up', async () => (await phone.call('GET', '/api/v1/device')).body.counts.backedUp === 2);
  const library = await rig.control('GET', '/emulator/libraries/alice@example.com/items');
  assert.deepEqual(library.items.map((i: { sha256: string }) => i.sha256).sort(), [sha256(photo), sha256(video)].sort());
  assert.equal(library.items.find((i: { sha256: string }) => i.sha256 === sha256(photo)).id, asset.googleMediaItemId);
});

it('a stored blob damaged or missing on disk never reaches the library: the delivery fails and asks for the file again', async () => {
  const { member, send, stats, count, library, assetOf } = await import('./helpers/forwarding.ts');
  const { writeFile, unlink } = await import('node:fs/promises');
  const m = await member(rig, 'Damaged');
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
  const damaged = jpeg(21_000);
  const missing = jpeg(22_000);
  const sound = jpeg(23_000);
  const ids = [await send(m.phone, damaged), await send(m.phone, missing), await send(m.phone, sound)] as const;
  const { blobs } = rig.relay.services;
  // Same size, other bytes: only a hash tells. The raw upload hashes what it sends and keeps no token for it.
  const bytes = Buffer.from(damaged);
  bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 0xff;
  await writeFile(blobs.pathOf(sha256(damaged)), bytes);
  await unlink(blobs.pathOf(sha256(missing)));
  const before = await stats(rig);
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });

  const [a, b, c] = (await waitFor('all three settled', async () => {
    const views = await Promise.all(ids.map((id) => assetOf(rig, id)));
    return views.every((v) => v.state === 'failed' || v.state === 'backed_up') ? views : null;
  }))!;
  assert.equal(a!.state, 'failed');
  assert.match(a!.lastError ?? '', /missing or damaged/);
  assert.equal(b!.state, 'failed');
  assert.match(b!.lastError ?? '', /missing or damaged/);
  assert.equal(c!.state, 'backed_up');
  assert.deepEqual((await library(rig, m.email)).map((i) => i.sha256), [sha256(sound)], 'only the sound photo is in the library');
  const after = await stats(rig);
  assert.ok(count(after, 'upload') - count(before, 'upload') <= 2, 'nothing was sent for the missing file');
  // The damaged bytes were deleted and the blob marked not stored: the phone is asked for them again.
  assert.equal(await blobs.has(sha256(damaged)), false);
  assert.equal((await rig.relay.services.db.blob.findUniqueOrThrow({ where: { sha256: sha256(damaged) } })).stored, false);
});
