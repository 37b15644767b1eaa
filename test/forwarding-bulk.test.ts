import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, mp4, sha256 } from './helpers/media.ts';
import { assertDeliveredExactlyOnce, count, library, send, stats, uniqueEmail } from './helpers/forwarding.ts';

const MB = 1024 * 1024;

let rig: Rig;
before(async () => {
  // Files over 1 MiB go through resumable sessions, in 512 KiB chunks (two of the emulator's 256 KiB granules).
  rig = await startRig({ forwarding: { resumableThresholdBytes: 1 * MB, chunkBytes: 512 * 1024 } });
});
after(() => rig.close());

it('150 photos and 3 videos from 3 devices of 2 accounts, duplicated across devices and accounts: each library holds each content once, in full batches', async () => {
  const alice = await rig.admin.createAccount('Alice');
  const bob = await rig.admin.createAccount('Bob');
  const aliceEmail = uniqueEmail('alice');
  const bobEmail = uniqueEmail('bob');
  const a1 = await rig.admin.pairDevice(alice, 'Alice phone');
  const a2 = await rig.admin.pairDevice(alice, 'Alice tablet');
  const b1 = await rig.admin.pairDevice(bob, 'Bob phone');

  // 110 distinct photos; 150 photo uploads: a1 0-59, a2 40-79 (20 shared with a1), b1 60-109 (20 shared with Alice's).
  const photos = Array.from({ length: 110 }, (_, i) => jpeg(4000 + i));
  const videos = [mp4(3 * MB + 12_345), mp4(2 * MB + 777), mp4(4 * MB)];
  const plan: { phone: typeof a1; items: { bytes: Buffer; name: string }[] }[] = [
    { phone: a1, items: [...photos.slice(0, 60).map((b, i) => ({ bytes: b, name: `A1_${i}.jpg` })), { bytes: videos[0]!, name: 'A1_V0.mp4' }] },
    { phone: a2, items: [...photos.slice(40, 80).map((b, i) => ({ bytes: b, name: `A2_${i}.jpg` })), { bytes: videos[1]!, name: 'A2_V1.mp4' }] },
    { phone: b1, items: [...photos.slice(60, 110).map((b, i) => ({ bytes: b, name: `B1_${i}.jpg` })), { bytes: videos[2]!, name: 'B1_V2.mp4' }] },
  ];
  const uploads = plan.reduce((n, p) => n + p.items.length, 0);
  assert.equal(uploads, 150 + 3);
  await Promise.all(plan.map(async ({ phone, items }) => {
    for (const item of items) await send(phone, item.bytes, item.name);
  }));
  // The admin links Google after the phones sent their backlog: forwarding starts with everything held.
  await rig.link(alice, aliceEmail);
  await rig.link(bob, bobEmail);

  const aliceShas = [...photos.slice(0, 80), videos[0]!, videos[1]!].map(sha256);
  const bobShas = [...photos.slice(60, 110), videos[2]!].map(sha256);
  await waitFor('both libraries complete', async () =>
    (await library(rig, aliceEmail)).length === new Set(aliceShas).size && (await library(rig, bobEmail)).length === new Set(bobShas).size,
    90_000,
    250,
  ).catch(async (err: Error) => {
    const states = await rig.relay.services.db.$queryRaw<{ account_id: string; state: string; has_token: boolean; n: number }[]>`
      SELECT account_id, state, upload_token IS NOT NULL AS has_token, count(*)::int AS n FROM deliveries GROUP BY 1, 2, 3`;
    const where = { libraries: [(await library(rig, aliceEmail)).length, (await library(rig, bobEmail)).length], states, queues: await rig.relay.services.queues.depths() };
    throw new Error(`${err.message}\n${JSON.stringify(where)}\n${JSON.stringify((await stats(rig)).requests)}`);
  });
  // Let anything still in flight land before judging "exactly once".
  await new Promise((r) => setTimeout(r, 500));
  await assertDeliveredExactlyOnce(rig, { accountId: alice, email: aliceEmail }, aliceShas);
  await assertDeliveredExactlyOnce(rig, { accountId: bob, email: bobEmail }, bobShas);

  const s = await stats(rig);
  // No fault was injected, so no batchCreate failed: every call but the last of an account carried 50 items.
  assert.equal(count(s, 'batchCreate') - count(s, 'batchCreate', '200'), 0, 'no batchCreate failed');
  const aliceItems = new Set(aliceShas).size;
  const bobItems = new Set(bobShas).size;
  assert.ok(s.batchCreate.calls[aliceEmail]! <= Math.ceil(aliceItems / 50), `Alice: ${s.batchCreate.calls[aliceEmail]} batchCreate calls for ${aliceItems} items`);
  assert.ok(s.batchCreate.calls[bobEmail]! <= Math.ceil(bobItems / 50), `Bob: ${s.batchCreate.calls[bobEmail]} batchCreate calls for ${bobItems} items`);
  assert.equal(s.batchCreate.overlaps, 0);

  // The videos (over the threshold) went through resumable sessions, one per delivery; the photos raw.
  assert.equal(s.resumable.sessions, 3, 'one resumable session per video');
  const videoBytes = videos.reduce((n, v) => n + v.length, 0);
  assert.ok(s.resumable.chunks >= Math.ceil(videoBytes / (512 * 1024)), `videos sent in chunks (${s.resumable.chunks})`);
  // Each content sent once per account: raw uploads = photo deliveries (80 + 50), plus 3 resumable starts.
  assert.equal(count(s, 'upload'), 80 + 50 + 3, `upload requests by status: ${JSON.stringify(s.requests.upload)}`);
  const photoBytes = [...photos.slice(0, 80), ...photos.slice(60, 110)].reduce((n, b) => n + b.length, 0);
  assert.equal(s.bytesReceived, photoBytes + videoBytes, 'every byte sent once: no upload repeated');
});
