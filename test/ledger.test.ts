import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, it } from 'node:test';
import type { Job } from 'bullmq';
import { reconcile } from '../src/forwarding/reconciler.ts';
import { runUpload } from '../src/forwarding/upload-step.ts';
import { registerUpload } from '../src/ingest/register.ts';
import { Readable } from 'node:stream';
import { startRig, type Rig } from './helpers/rig.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { assertDeliveredExactlyOnce, count, library, member, send, stats, waitAllState } from './helpers/forwarding.ts';

let rig: Rig;
before(async () => {
  rig = await startRig();
});
after(() => rig.close());

const deliveryOf = (sha: string, accountId: string) =>
  rig.relay.services.db.delivery.findUniqueOrThrow({ where: { blobSha256_accountId: { blobSha256: sha, accountId } } });

it('every transition names its from-states: a backed-up delivery cannot be moved back by a late or duplicate step', async () => {
  const m = await member(rig, 'Guarded');
  const photo = jpeg();
  await send(m.phone, photo);
  await waitAllState(rig, m.accountId, 'backed_up');
  const { deliveries } = rig.relay.services.ledger;
  const before = await deliveryOf(sha256(photo), m.accountId);
  const far = new Date(Date.now() + 86_400_000);

  assert.equal(await deliveries.beginUpload(before.id, new Date()), null, 'beginUpload on backed_up');
  assert.equal(await deliveries.recordUploadToken(before.id, 'late-token', far, new Date()), null, 'recordUploadToken on backed_up');
  assert.equal(await deliveries.saveUploadSession(before.id, '{}'), false, 'saveUploadSession on backed_up');
  assert.equal(await deliveries.fail(before.id, 'late failure'), false, 'fail on backed_up');
  assert.equal(await deliveries.deferRetry([before.id], { reason: 'late', nextAttemptAt: far, attempts: 1 }), 0);
  assert.equal(await rig.relay.services.db.$transaction((tx) => deliveries.markBackedUp(tx, [{ id: before.id, mediaItemId: 'another-item' }])).then((moved) => moved.size), 0);
  assert.equal(await rig.relay.services.db.$transaction((tx) => deliveries.returnForUpload(tx, [before.id], 'late')), 0);
  assert.equal(await deliveries.retryFailed({ ids: [before.id] }), 0);
  assert.deepEqual(await deliveryOf(sha256(photo), m.accountId), before, 'the row did not change');

  // A duplicate job run for the finished delivery sends nothing.
  const base = await stats(rig);
  await runUpload(rig.worker!.context, { data: { deliveryId: before.id } } as Job, undefined);
  assert.equal(count(await stats(rig), 'upload'), count(base, 'upload'));
});

it('two runs of one upload job at once (a lost lock) make one media item: the second token is refused by the ledger', async () => {
  const m = await member(rig, 'Twice');
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
  const photo = jpeg();
  await send(m.phone, photo);
  const delivery = await deliveryOf(sha256(photo), m.accountId);
  await rig.relay.services.db.account.update({ where: { id: m.accountId }, data: { forwarding: 'active' } });
  const job = { data: { deliveryId: delivery.id } } as Job;
  await Promise.all([runUpload(rig.worker!.context, job, undefined), runUpload(rig.worker!.context, job, undefined)]);
  const after = await deliveryOf(sha256(photo), m.accountId);
  assert.equal(after.state, 'uploading');
  assert.ok(after.uploadToken);
  await rig.worker!.reconcileNow(m.accountId);
  await waitAllState(rig, m.accountId, 'backed_up');
  assert.equal((await library(rig, m.email)).length, 1);
  await assertDeliveredExactlyOnce(rig, m, [sha256(photo)]);
});

it('the reconciler reads the ledger a page at a time, by key, and schedules every delivery once', async () => {
  const m = await member(rig, 'Paged');
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
  const photos = Array.from({ length: 23 }, () => jpeg());
  for (const p of photos) await send(m.phone, p);
  // Resume in the ledger only, so nothing is scheduled until the reconciler runs. The worker may still start some of
  // them meanwhile (an upload's hint arriving late, its own reconcile on its timer); Google holds every upload for a
  // while, so that none gains its token, and becomes the create job's, before this pass has read every page.
  await rig.control('PATCH', '/emulator/config', { latencyMs: 5000 });
  let result;
  try {
    await rig.relay.services.db.account.update({ where: { id: m.accountId }, data: { forwarding: 'active' } });
    result = await reconcile(rig.relay.services, { tokenMarginMs: 0, accountId: m.accountId, pageSize: 5 });
  } finally {
    await rig.control('PATCH', '/emulator/config', { latencyMs: 0 });
  }
  assert.equal(result.pages, 5);
  assert.equal(result.uploads, photos.length);
  await waitAllState(rig, m.accountId, 'backed_up', 30_000, photos.length);
  await assertDeliveredExactlyOnce(rig, m, photos.map(sha256));
});

it('a registration that fails after the bytes were renamed into place leaves no file behind (and no row)', async () => {
  const m = await member(rig, 'Rollback', { link: false });
  const photo = jpeg();
  const { blobs, db } = rig.relay.services;
  const temp = await blobs.receive(Readable.from([photo]), 10 * 1024 * 1024);
  // A value Postgres refuses (longer than the column), reaching the INSERT after the rename (the edge validates
  // lengths; this proves the ledger does not depend on it).
  await assert.rejects(
    registerUpload(rig.relay.services, { id: m.phone.deviceId, accountId: m.accountId }, temp, {
      deviceAssetId: 'x',
      fileName: `${'x'.repeat(300)}.jpg`,
      fileCreatedAt: null,
    }),
    /value too long/,
  );
  assert.equal(await blobs.has(sha256(photo)), false, 'no blob file without its row');
  assert.equal(await db.blob.count({ where: { sha256: sha256(photo) } }), 0);
  assert.deepEqual(await readdir(blobs.tmpDir), []);
});
