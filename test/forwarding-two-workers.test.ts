import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { assertDeliveredExactlyOnce, faults, library, member, send, spawnWorker, stats, type WorkerProcess } from './helpers/forwarding.ts';

let rig: Rig;
const workers: WorkerProcess[] = [];
before(async () => {
  // batchCreate answers no sooner than 300 ms, so two calls for one user at once would overlap visibly.
  rig = await startRig({ worker: false, emulator: { batchCreateMinHoldMs: 300 } });
});
after(async () => {
  for (const w of workers) await w.kill();
  await rig.close();
});

it('two worker processes forwarding one account never call batchCreate for it at the same time', async () => {
  const m = await member(rig, 'Shared');
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
  const photos = Array.from({ length: 160 }, (_, i) => jpeg(3000 + i));
  const phones = [m.phone, await rig.admin.pairDevice(m.accountId, 'p2')];
  const started = [spawnWorker(rig), spawnWorker(rig)];
  workers.push(...started);
  await Promise.all([
    ...started.map((w) => w.ready),
    ...phones.map(async (phone, k) => {
      for (let i = k; i < photos.length; i += phones.length) await send(phone, photos[i]!);
    }),
  ]);
  // The first batchCreates are slow: while one is held, the other worker finds plenty of new tokens to create.
  await faults(rig, { endpoint: 'batchCreate', times: 2, fault: { kind: 'latency', ms: 3000 }, match: { email: m.email } });
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });

  // The queue's one-job-per-account id is the first guard; a wiped or raced queue can lose it. Add create jobs
  // under other ids, so both processes run creates for this account at once and only the advisory lock stands
  // between them.
  const { creates } = rig.relay.services.queues;
  for (let i = 0; i < 8; i++) await creates.add('create', { accountId: m.accountId }, { jobId: `extra-${i}`, removeOnComplete: true, removeOnFail: true });
  const extra = setInterval(() => {
    void creates.add('create', { accountId: m.accountId }, { jobId: `extra-${Date.now()}`, removeOnComplete: true, removeOnFail: true }).catch(() => {});
  }, 150);
  try {
    await waitFor('every photo in the library', async () => (await library(rig, m.email)).length === photos.length, 90_000, 200);
  } finally {
    clearInterval(extra);
  }
  await waitFor('every asset backed up', async () => (await rig.admin.call('GET', `/api/v1/admin/accounts/${m.accountId}`)).body.counts.backedUp === photos.length, 30_000);
  await assertDeliveredExactlyOnce(rig, m, photos.map(sha256));

  const s = await stats(rig);
  assert.ok(s.batchCreate.calls[m.email]! >= Math.ceil(photos.length / 50), 'the work took several calls');
  assert.equal(s.batchCreate.overlaps, 0, 'two batchCreate calls for one user overlapped');
  assert.equal(s.batchCreate.maxConcurrentPerUser[m.email], 1);
  for (const w of started) assert.equal(w.child.exitCode, null, `a worker died:\n${w.output().slice(-2000)}`);
});
