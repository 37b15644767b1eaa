import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { after, before, it } from 'node:test';
import { CREATE_QUEUE, ForwardQueues, UPLOAD_QUEUE, createJobId } from '../src/forwarding/queue.ts';
import { REDIS_URL } from './helpers/harness.ts';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { assertDeliveredExactlyOnce, library, member, send, stats } from './helpers/forwarding.ts';

let rig: Rig;
before(async () => {
  // Some latency so the wipe lands while uploads and a batch are under way.
  rig = await startRig({ emulator: { latencyMs: 30 } });
});
after(() => rig.close());

/**
 * FLUSHALL for this test only: every key under the test's prefix (queues, jobs, locks, rate-limit counters), in one
 * script, so that like FLUSHALL nothing runs in between. A real FLUSHALL would wipe the other test files sharing this
 * Redis. (Keys lost one by one are another case: see the orphaned create job below.)
 */
const WIPE = `local cursor, deleted = '0', {}
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do redis.call('DEL', key); deleted[#deleted + 1] = key end
until cursor == '0'
return deleted`;
async function wipeRedis(prefix: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL);
  try {
    return (await redis.eval(WIPE, 0, `${prefix}:*`)) as string[];
  } finally {
    redis.disconnect();
  }
}

it("an account's create job that Redis kept without its place in any list is made again, not left asleep for good", async () => {
  // Queues of their own under the test's prefix, with no worker: the job stays where it is put.
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = `${rig.relay.iso.redisPrefix}:orphans`;
  const queues = ForwardQueues.create(redis, prefix, rig.relay.services.log);
  try {
    const accountId = '0190a000-0000-7000-8000-000000000001';
    await queues.enqueueCreate(accountId, 60_000);
    const job = await queues.creates.getJob(createJobId(accountId));
    assert.equal(await job?.getState(), 'delayed');
    // Its hash stays, its place in the delayed set is lost (eviction, a wipe that is not atomic).
    await redis.zrem(`${prefix}:${CREATE_QUEUE}:delayed`, createJobId(accountId));
    assert.equal(await job!.getState(), 'unknown');
    await queues.enqueueCreate(accountId);
    assert.equal(await (await queues.creates.getJob(createJobId(accountId)))?.getState(), 'waiting');
  } finally {
    await queues.close();
  }
});

it('Redis loses everything in the middle of forwarding: the reconciler rebuilds the jobs from Postgres and finishes, each item once', async () => {
  const m = await member(rig, 'Wiped');
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
  const photos = Array.from({ length: 150 }, (_, i) => jpeg(3000 + i));
  const phones = [m.phone, await rig.admin.pairDevice(m.accountId, 'p2'), await rig.admin.pairDevice(m.accountId, 'p3')];
  await Promise.all(phones.map(async (phone, k) => {
    for (let i = k; i < photos.length; i += phones.length) await send(phone, photos[i]!);
  }));
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });

  // Once the first batch is in the library and more uploads are under way: everything in Redis is gone.
  await waitFor('forwarding under way', async () => (await library(rig, m.email)).length >= 50, 60_000, 20);
  const prefix = rig.relay.iso.redisPrefix;
  const deleted = await wipeRedis(prefix);
  // Right after the wipe (the reconciler runs once a second): the queue must answer, and hold fewer upload jobs than
  // deliveries still to make. depths() failing fails the test: a queue that cannot be read proves nothing.
  const queued = await rig.relay.services.queues.depths();
  const inLibraryAtWipe = (await library(rig, m.email)).length;
  assert.ok(inLibraryAtWipe < photos.length, 'the wipe happened mid-way');
  const uploadJob = new RegExp(`^${prefix}:${UPLOAD_QUEUE}:[0-9a-f-]{36}$`);
  assert.ok(deleted.filter((k) => uploadJob.test(k)).length > 0, `upload jobs were among the ${deleted.length} keys lost`);
  const uploadsQueued = Object.values(queued.upload ?? {}).reduce((a, b) => a + b, 0);
  assert.ok(uploadsQueued < photos.length - inLibraryAtWipe, `the queue really lost jobs (${uploadsQueued} left for ${photos.length - inLibraryAtWipe} deliveries)`);

  // And once more a little later, in case the first wipe caught the queue between jobs.
  await waitFor('more progress', async () => (await library(rig, m.email)).length > inLibraryAtWipe, 60_000, 20);
  await wipeRedis(rig.relay.iso.redisPrefix);

  await waitFor('every photo in the library', async () => (await library(rig, m.email)).length === photos.length, 90_000, 200);
  await waitFor('every asset backed up', async () => (await rig.admin.call('GET', `/api/v1/admin/accounts/${m.accountId}`)).body.counts.backedUp === photos.length, 30_000);
  await assertDeliveredExactlyOnce(rig, m, photos.map(sha256));
  assert.equal((await stats(rig)).batchCreate.overlaps, 0);
});
