import assert from 'node:assert/strict';
import { after, afterEach, before, it } from 'node:test';
import { applyRetention } from '../src/forwarding/retention.ts';
import { loadConfig } from '../src/config/config.ts';
import { googleEnv, startRig, type Rig } from './helpers/rig.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { assetOf, library, member, send, waitAssetState } from './helpers/forwarding.ts';

const HOUR = 3600_000;

let rig: Rig;
let offset = 0;
before(async () => {
  rig = await startRig({ env: { RETENTION_HOURS: '24' } });
  rig.relay.services.clock = () => new Date(Date.now() + offset);
});
afterEach(() => {
  rig.relay.services.config.keepOriginals = false;
});
after(() => rig.close());

async function blobState(sha: string) {
  const row = await rig.relay.services.db.blob.findUniqueOrThrow({ where: { sha256: sha } });
  return { stored: row.stored, purgedAt: row.purgedAt, onDisk: await rig.relay.services.blobs.has(sha) };
}

it('the bytes of a backed-up blob are deleted once the retention period has passed, not before; the row remembers', async () => {
  const m = await member(rig, 'Keeper');
  const photo = jpeg(9000);
  const sha = sha256(photo);
  const id = await send(m.phone, photo);
  await waitAssetState(rig, id, 'backed_up');

  await applyRetention(rig.relay.services);
  assert.deepEqual(await blobState(sha), { stored: true, purgedAt: null, onDisk: true }, 'kept within RETENTION_HOURS');

  offset += 23 * HOUR;
  await applyRetention(rig.relay.services);
  assert.equal((await blobState(sha)).onDisk, true, 'still kept after 23 h');

  offset += 2 * HOUR;
  const purged = await applyRetention(rig.relay.services);
  assert.ok(purged >= 1);
  const after = await blobState(sha);
  assert.equal(after.stored, false);
  assert.equal(after.onDisk, false, 'the blob file is gone');
  assert.ok(after.purgedAt);
  assert.equal((await assetOf(rig, id)).state, 'backed_up', 'the asset stays backed up');
  // The phone is not asked for the bytes again, and a second device of the account registers them without bytes.
  assert.deepEqual((await m.phone.call('POST', '/api/v1/assets/check', { sha256: [sha] })).body.missing, []);
  const tablet = await rig.admin.pairDevice(m.accountId, 'tablet');
  const byHash = await tablet.call('POST', '/api/v1/assets/by-hash', { sha256: sha, deviceAssetId: 't-1', fileName: 'IMG_9.jpg' });
  assert.equal(byHash.status, 201, JSON.stringify(byHash.body));
  assert.equal(byHash.body.state, 'backed_up');
  assert.equal((await library(rig, m.email)).length, 1);
});

it('a blob another account still waits for is kept until that account has it too', async () => {
  const a = await member(rig, 'Delivered');
  const b = await member(rig, 'Waiting');
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${b.accountId}`, { forwarding: 'paused' });
  const photo = jpeg(9100);
  const sha = sha256(photo);
  const idA = await send(a.phone, photo);
  const idB = await send(b.phone, photo);
  await waitAssetState(rig, idA, 'backed_up');
  assert.equal((await assetOf(rig, idB)).state, 'paused');

  offset += 48 * HOUR;
  await applyRetention(rig.relay.services);
  assert.equal((await blobState(sha)).onDisk, true, 'kept: Waiting has not got it yet');

  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${b.accountId}`, { forwarding: 'active' });
  await waitAssetState(rig, idB, 'backed_up');
  await applyRetention(rig.relay.services);
  assert.equal((await blobState(sha)).onDisk, true, 'just delivered to Waiting: its grace period starts now');
  offset += 25 * HOUR;
  await applyRetention(rig.relay.services);
  assert.deepEqual({ ...(await blobState(sha)), purgedAt: null }, { stored: false, purgedAt: null, onDisk: false });
});

it('content purged for one account is asked for again by another account that never had it, and forwarded', async () => {
  const first = await member(rig, 'First');
  const photo = jpeg(9200);
  const sha = sha256(photo);
  await waitAssetState(rig, await send(first.phone, photo), 'backed_up');
  offset += 25 * HOUR;
  await applyRetention(rig.relay.services);
  assert.equal((await blobState(sha)).onDisk, false);

  const later = await member(rig, 'Later');
  assert.deepEqual((await later.phone.call('POST', '/api/v1/assets/check', { sha256: [sha] })).body.missing, [sha]);
  const id = await send(later.phone, photo);
  assert.equal((await blobState(sha)).onDisk, true, 'stored again');
  await waitAssetState(rig, id, 'backed_up');
  assert.deepEqual((await library(rig, later.email)).map((i) => i.sha256), [sha]);
});

it('KEEP_ORIGINALS=true keeps every blob whatever its age', async () => {
  const m = await member(rig, 'Archivist');
  const photo = jpeg(9300);
  const sha = sha256(photo);
  await waitAssetState(rig, await send(m.phone, photo), 'backed_up');
  // What KEEP_ORIGINALS=true in the environment sets, applied to the running relay.
  const fromEnv = loadConfig({ ...rig.relay.iso.env, ...googleEnv(rig.emulator.url), KEEP_ORIGINALS: 'true' });
  assert.equal(fromEnv.keepOriginals, true);
  rig.relay.services.config.keepOriginals = fromEnv.keepOriginals;
  offset += 1000 * HOUR;
  assert.equal(await applyRetention(rig.relay.services), 0);
  assert.deepEqual(await blobState(sha), { stored: true, purgedAt: null, onDisk: true });
  // Switched off again, the same blob goes: the test above is not passing for another reason.
  rig.relay.services.config.keepOriginals = false;
  assert.ok((await applyRetention(rig.relay.services)) >= 1);
  assert.equal((await blobState(sha)).onDisk, false);
});
