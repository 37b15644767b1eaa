import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { assertDeliveredExactlyOnce, library, member, photosRequests, send, spawnWorker, stats, type WorkerProcess } from './helpers/forwarding.ts';

const ROUNDS = 10;
const PHOTOS = 300;

let rig: Rig;
const workers: WorkerProcess[] = [];
before(async () => {
  // The API stays in this process; forwarding runs only in worker processes, which this test kills. A little
  // latency keeps several requests in flight at any moment, so a kill always cuts some of them.
  rig = await startRig({ worker: false, emulator: { latencyMs: 40 } });
});
after(async () => {
  for (const w of workers) await w.kill();
  await rig.close();
});

function spawn(): WorkerProcess {
  const w = spawnWorker(rig);
  workers.push(w);
  return w;
}

it(`SIGKILL the worker at random points, ${ROUNDS} rounds, while forwarding ${PHOTOS} photos: each in the library once, all backed up`, async () => {
  const m = await member(rig, 'Crashy');
  const phones = [m.phone, await rig.admin.pairDevice(m.accountId, 'p2'), await rig.admin.pairDevice(m.accountId, 'p3')];
  const photos = Array.from({ length: PHOTOS }, (_, i) => jpeg(3000 + i));
  await Promise.all(phones.map(async (phone, k) => {
    for (let i = k; i < photos.length; i += phones.length) await send(phone, photos[i]!);
  }));

  const kills: { round: number; afterRequests: number; plusMs: number; inLibrary: number }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const worker = spawn();
    await worker.ready;
    // A random point in the work: after 1–15 more requests reached Google, plus a random moment.
    const base = photosRequests(await stats(rig));
    const afterRequests = 1 + Math.floor(Math.random() * 15);
    await waitFor(`round ${round}: ${afterRequests} requests`, async () => photosRequests(await stats(rig)) >= base + afterRequests, 60_000, 10);
    const plusMs = Math.floor(Math.random() * 300);
    await new Promise((r) => setTimeout(r, plusMs));
    await worker.kill('SIGKILL');
    assert.equal((await worker.exited).signal, 'SIGKILL');
    kills.push({ round, afterRequests, plusMs, inLibrary: (await library(rig, m.email)).length });
  }
  assert.ok(kills.at(-1)!.inLibrary < PHOTOS, `the kills happened while forwarding: ${JSON.stringify(kills)}`);

  // A last worker finishes everything, including what the killed ones held (their jobs stall, then run again).
  const final = spawn();
  await waitFor('every photo in the library', async () => (await library(rig, m.email)).length === PHOTOS, 120_000, 500).catch((err: Error) => {
    throw new Error(`${err.message}\nkills: ${JSON.stringify(kills)}\nworker output:\n${final.output().slice(-3000)}`);
  });
  await waitFor('every asset backed up', async () => (await rig.admin.call('GET', `/api/v1/admin/accounts/${m.accountId}`)).body.counts.backedUp === PHOTOS, 30_000);
  await assertDeliveredExactlyOnce(rig, m, photos.map(sha256));
  const deliveries = await rig.relay.services.db.delivery.findMany({ where: { accountId: m.accountId } });
  assert.equal(deliveries.length, PHOTOS);
  assert.ok(deliveries.every((d) => d.state === 'backed_up' && d.mediaItemId && d.uploadToken === null && d.lastError === null));
  assert.equal((await stats(rig)).batchCreate.overlaps, 0);
});
