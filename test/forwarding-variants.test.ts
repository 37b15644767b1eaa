import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, afterEach, before, it } from 'node:test';
import { newId } from '../src/db/ids.ts';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, notMedia, sha256 } from './helpers/media.ts';
import {
  assertDeliveredExactlyOnce,
  assetOf,
  count,
  faults,
  library,
  member,
  send,
  stats,
  uniqueEmail,
  waitAllState,
  waitAssetState,
  type Member,
} from './helpers/forwarding.ts';

/**
 * The behaviours Google's documentation leaves open or that were only observed are switches in the emulator's
 * config (src/emulator/README.md, "Configurable behaviours"): the relay must reach the right final state under each.
 */

let rig: Rig;
let defaults: Record<string, unknown>;
before(async () => {
  rig = await startRig();
  defaults = await rig.control('GET', '/emulator/config');
});
afterEach(async () => {
  const { invalidUploadToken, duplicateItem, partialFailureStatus, unsupportedAt, uploadErrorFormat, uploadTokenReuse } = defaults;
  await rig.control('PATCH', '/emulator/config', { invalidUploadToken, duplicateItem, partialFailureStatus, unsupportedAt, uploadErrorFormat, uploadTokenReuse });
  await rig.control('DELETE', '/emulator/faults');
});
after(() => rig.close());

const variant = (patch: Record<string, unknown>) => rig.control('PATCH', '/emulator/config', patch);
const calls = async (email: string) => (await stats(rig)).batchCreate.calls[email] ?? 0;

for (const mode of ['request', 'item'] as const) {
  it(`invalidUploadToken '${mode}': an expired upload token is uploaded again, then created`, async () => {
    await variant({ invalidUploadToken: mode });
    const m = await member(rig, `Invalid${mode}`);
    await faults(rig, { endpoint: 'batchCreate', fault: { kind: 'expireUploadTokens' }, match: { email: m.email } });
    const base = await stats(rig);
    const id = await send(m.phone, jpeg(5000));
    await waitAssetState(rig, id, 'backed_up', 20_000);
    const s = await stats(rig);
    // 'request': the whole call is refused with 400; 'item': 200 with the per-item status saying so.
    const refused = mode === 'request' ? '400' : '200';
    assert.equal(count(s, 'batchCreate', refused) - count(base, 'batchCreate', refused), mode === 'request' ? 1 : 2);
    assert.equal(count(s, 'upload', '200') - count(base, 'upload', '200'), 2, 'the bytes went again');
    assert.equal(await calls(m.email), 2);
    await assertDeliveredExactlyOnce(rig, m);
  });
}

for (const mode of ['existing', 'alreadyExists'] as const) {
  it(`duplicateItem '${mode}': a batchCreate whose answer was lost is retried; the duplicate counts as delivered`, async () => {
    await variant({ duplicateItem: mode });
    const m = await member(rig, `Dup${mode}`);
    // Google creates the item, but the answer never arrives.
    await faults(rig, { endpoint: 'batchCreate', fault: { kind: 'drop' }, match: { email: m.email } });
    const photo = jpeg(5000);
    const id = await send(m.phone, photo);
    const asset = await waitAssetState(rig, id, 'backed_up', 20_000);
    assert.equal(await calls(m.email), 2, 'created, answer lost, created again');
    const items = await library(rig, m.email);
    assert.equal(items.length, 1);
    if (mode === 'existing') assert.equal(asset.googleMediaItemId, items[0]!.id, 'the duplicate answer names the first item');
    else assert.ok(asset.googleMediaItemId === null || asset.googleMediaItemId === items[0]!.id);
    await assertDeliveredExactlyOnce(rig, m, [sha256(photo)]);
  });

  it(`duplicateItem '${mode}': two relay accounts linked to the same Google user both end backed up, the content once`, async () => {
    await variant({ duplicateItem: mode });
    const email = uniqueEmail('shared');
    const one = await rig.admin.createAccount('One');
    const two = await rig.admin.createAccount('Two');
    await rig.link(one, email);
    await rig.link(two, email);
    const p1 = await rig.admin.pairDevice(one);
    const p2 = await rig.admin.pairDevice(two);
    const photo = jpeg(7000);
    const first = await send(p1, photo);
    await waitAssetState(rig, first, 'backed_up');
    const second = await send(p2, photo);
    await waitAssetState(rig, second, 'backed_up');
    assert.equal((await library(rig, email)).length, 1);
  });
}

for (const status of [200, 207] as const) {
  it(`partialFailureStatus ${status}: a batch with one refused item keeps the others`, async () => {
    await variant({ partialFailureStatus: status });
    const m = await member(rig, `Partial${status}`);
    // Held while the phone sends three photos, so one batchCreate carries all three.
    await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
    const ids = [await send(m.phone, jpeg(5000)), await send(m.phone, jpeg(5100)), await send(m.phone, jpeg(5200))];
    await faults(rig, { endpoint: 'batchCreate', fault: { kind: 'itemStatus', code: 3, index: 1 }, match: { email: m.email } });
    const base = await stats(rig);
    await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });
    await waitFor('all settled', async () => {
      const states = await Promise.all(ids.map(async (id) => (await assetOf(rig, id)).state));
      return states.every((s) => s === 'backed_up' || s === 'failed');
    }, 20_000);
    const s = await stats(rig);
    assert.equal(await calls(m.email), 1, 'one batch for the three');
    assert.equal(count(s, 'batchCreate', String(status)) - count(base, 'batchCreate', String(status)), 1);
    const states = await Promise.all(ids.map((id) => assetOf(rig, id)));
    assert.equal(states.filter((a) => a.state === 'backed_up').length, 2);
    const failed = states.filter((a) => a.state === 'failed');
    assert.equal(failed.length, 1);
    assert.match(failed[0]!.lastError ?? '', /code 3/);
    assert.equal((await library(rig, m.email)).length, 2);
  });
}

/**
 * Content the relay holds but Google will not take. The relay and the emulator judge formats with the same sniffer,
 * so no phone upload can produce it: it is put in the ledger directly, as if an older relay had accepted it.
 */
async function foreignContent(m: Member): Promise<string> {
  const { db, blobs } = rig.relay.services;
  const bytes = notMedia(6000);
  const sha = sha256(bytes);
  const file = blobs.pathOf(sha);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, bytes);
  await db.$executeRaw`INSERT INTO blobs (sha256, size, mime_type) VALUES (${sha}, ${bytes.length}, 'image/jpeg')`;
  const assetId = newId();
  await db.$executeRaw`
    INSERT INTO assets (id, device_id, account_id, blob_sha256, device_asset_id, file_name)
    VALUES (${assetId}::uuid, ${m.phone.deviceId}::uuid, ${m.accountId}::uuid, ${sha}, 'foreign-1', 'DOC_1.jpg')`;
  await db.$executeRaw`INSERT INTO deliveries (id, account_id, blob_sha256) VALUES (${newId()}::uuid, ${m.accountId}::uuid, ${sha})`;
  await rig.worker!.reconcileNow(m.accountId);
  return assetId;
}

for (const where of ['upload', 'batchCreate'] as const) {
  for (const format of ['envelope', 'bare'] as const) {
    it(`unsupportedAt '${where}', uploadErrorFormat '${format}': content Google refuses fails permanently with its reason`, async () => {
      await variant({ unsupportedAt: where, uploadErrorFormat: format });
      const m = await member(rig, `Unsupported${where}${format}`);
      const base = await stats(rig);
      const id = await foreignContent(m);
      const asset = await waitAssetState(rig, id, 'failed', 20_000);
      const s = await stats(rig);
      if (where === 'upload') {
        assert.match(asset.lastError ?? '', /not a supported photo or video format/);
        assert.doesNotMatch(asset.lastError ?? '', /[{}]/, 'the error body was parsed, not pasted');
        assert.equal(count(s, 'upload', '400') - count(base, 'upload', '400'), 1, 'refused once, not retried');
        assert.equal(await calls(m.email), 0);
      } else {
        assert.match(asset.lastError ?? '', /code 3/);
        assert.equal(await calls(m.email), 1, 'refused once, not retried');
      }
      // A permanent failure stays failed, and a good photo of the same account still goes.
      const good = await send(m.phone, jpeg(5000));
      await waitAssetState(rig, good, 'backed_up');
      assert.equal((await assetOf(rig, id)).state, 'failed');
      assert.equal((await library(rig, m.email)).length, 1);
    });
  }
}

for (const mode of ['request', 'item'] as const) {
  it(`uploadTokenReuse false (invalidUploadToken '${mode}'): a retried create with a used token uploads again; the content is in the library once`, async () => {
    await variant({ uploadTokenReuse: false, invalidUploadToken: mode });
    const m = await member(rig, `NoReuse${mode}`);
    await faults(rig, { endpoint: 'batchCreate', fault: { kind: 'drop' }, match: { email: m.email } });
    const base = await stats(rig);
    const photo = jpeg(5000);
    const id = await send(m.phone, photo);
    await waitAssetState(rig, id, 'backed_up', 20_000);
    const s = await stats(rig);
    assert.equal(count(s, 'upload', '200') - count(base, 'upload', '200'), 2, 'the used token was replaced by a new upload');
    assert.equal(await calls(m.email), 3, 'created (answer lost), refused (token used), created (found the item)');
    await assertDeliveredExactlyOnce(rig, m, [sha256(photo)]);
  });
}

it('every variant switched at once: a mixed batch still ends in the right states', async () => {
  await variant({ invalidUploadToken: 'item', duplicateItem: 'alreadyExists', partialFailureStatus: 207, unsupportedAt: 'upload', uploadErrorFormat: 'bare', uploadTokenReuse: false });
  const m = await member(rig, 'AllVariants');
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
  const photos = Array.from({ length: 6 }, (_, i) => jpeg(5000 + i));
  for (const p of photos) await send(m.phone, p);
  await faults(
    rig,
    { endpoint: 'batchCreate', fault: { kind: 'expireUploadTokens' }, match: { email: m.email } },
    { endpoint: 'batchCreate', fault: { kind: 'itemStatus', code: 13, index: 0 }, match: { email: m.email } },
  );
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });
  await waitAllState(rig, m.accountId, 'backed_up', 30_000, 6);
  await assertDeliveredExactlyOnce(rig, m, photos.map(sha256));
});
