import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startForwardWorker, type ForwardWorker } from '../src/forwarding/worker.ts';
import { FAST_FORWARDING, startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import {
  assertDeliveredExactlyOnce,
  assetOf,
  count,
  faults,
  member,
  requestLog,
  send,
  stats,
  waitAssetState,
} from './helpers/forwarding.ts';

/**
 * Finding 12: a Google peer that stops reading an upload (the emulator's `stall` fault: it takes the headers, then
 * reads nothing and never answers) must not hold a job for undici's 300 s, nor hold the worker's close.
 */

const IDLE_MS = 1500;
let rig: Rig;
let log: ReturnType<typeof requestLog>;
const workers: ForwardWorker[] = [];

async function worker(idleMs: number): Promise<ForwardWorker> {
  const w = await startForwardWorker(rig.relay.services, { ...FAST_FORWARDING, googleIdleTimeoutMs: idleMs });
  workers.push(w);
  return w;
}

before(async () => {
  rig = await startRig({ worker: false });
  log = requestLog(rig);
});
after(async () => {
  for (const w of workers) await w.close();
  await rig.close();
});

const uploadsOf = (email: string) => log.of(email).filter((r) => r.path === '/v1/uploads');

it('a stalled upload is abandoned within the idle timeout and retried: backed up, sent whole once', async () => {
  const w = await worker(IDLE_MS);
  const m = await member(rig, 'Stalled');
  await faults(rig, { endpoint: 'upload', fault: { kind: 'stall' }, match: { email: m.email } });
  const base = await stats(rig);
  const photo = jpeg(60_000);
  const id = await send(m.phone, photo);

  const asset = await waitAssetState(rig, id, 'backed_up', 30_000);
  const [stalled, retried, ...more] = uploadsOf(m.email);
  assert.ok(stalled && retried, 'the stalled request, then the retry');
  assert.equal(more.length, 0, 'no further upload');
  const gap = retried.at - stalled.at;
  // Abandoned after IDLE_MS without progress, then the transient backoff of attempt 1 (1–2 s).
  assert.ok(gap >= IDLE_MS + 1000 - 50, `retried ${gap} ms after the stalled request: before the idle timeout and backoff`);
  assert.ok(gap < IDLE_MS + 2000 + 5000, `retried ${gap} ms after the stalled request: far after the idle timeout`);
  assert.equal(asset.attempts, 2);
  const s = await stats(rig);
  assert.equal(count(s, 'upload', '200') - count(base, 'upload', '200'), 1, 'one upload answered');
  await assertDeliveredExactlyOnce(rig, m, [sha256(photo)]);
  await w.close();
});

it('closing the worker abandons a stalled upload at once; the job is not failed and is forwarded by the next worker', async () => {
  // An idle timeout far longer than the test: only closing can end the stalled request.
  const first = await worker(120_000);
  const m = await member(rig, 'ClosedWhileStalled');
  await faults(rig, { endpoint: 'upload', fault: { kind: 'stall' }, match: { email: m.email } });
  const id = await send(m.phone, jpeg(40_000));
  await waitFor('the upload reaching Google', async () => uploadsOf(m.email).length === 1, 20_000, 20);
  await new Promise((r) => setTimeout(r, 300));

  const started = Date.now();
  await first.close();
  const took = Date.now() - started;
  assert.ok(took < 5000, `close took ${took} ms with a stalled upload in flight`);

  const asset = await assetOf(rig, id);
  assert.notEqual(asset.state, 'failed');
  assert.match(asset.lastError ?? '', /closing/);
  const delivery = await rig.relay.services.db.delivery.findFirstOrThrow({ where: { accountId: m.accountId } });
  assert.equal(delivery.state, 'uploading');
  assert.ok(delivery.nextAttemptAt, 'scheduled for another attempt');
  // Failed jobs are removed (removeOnFail): a job still there, delayed, is one that was put back, not failed.
  const job = await rig.relay.services.queues.uploads.getJob(delivery.id);
  assert.equal(job ? await job.getState() : 'gone', 'delayed', 'the job was put back for a retry');

  await worker(120_000);
  await waitAssetState(rig, id, 'backed_up', 30_000);
  assert.equal(uploadsOf(m.email).length, 2, 'the stalled request, then one retry by the next worker');
  await assertDeliveredExactlyOnce(rig, m);
});
