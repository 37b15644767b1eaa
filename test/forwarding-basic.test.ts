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
