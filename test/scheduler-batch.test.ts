import assert from 'node:assert/strict';
import { it } from 'node:test';
import { BatchingScheduler } from '../src/ledger/scheduler-batch.ts';
import type { DeliveryRef, Scheduler } from '../src/ledger/scheduler.ts';

/** A scheduler whose calls stay out until the test lets them return (or fail). */
function heldScheduler() {
  const calls: Array<{ ids: string[]; settle: (err?: Error) => void }> = [];
  const inner: Scheduler = {
    uploads: (deliveries: DeliveryRef[]) =>
      new Promise<void>((resolve, reject) => calls.push({ ids: deliveries.map((d) => d.id), settle: (err) => (err ? reject(err) : resolve()) })),
    account: async () => {},
  };
  return { inner, calls };
}

const ref = (id: string): DeliveryRef => ({ id, accountId: 'a', rank: 1 });
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

it('hints handed over while a call is out leave together in the next call; each caller resumes with its own call', async () => {
  const { inner, calls } = heldScheduler();
  const batching = new BatchingScheduler(inner, { warn: () => {} }, 0);
  let firstDone = false;
  const first = batching.uploads([ref('d1')]).then(() => (firstDone = true));
  await tick();
  assert.deepEqual(calls.map((c) => c.ids), [['d1']], 'an idle scheduler sends at once');
  const later = [batching.uploads([ref('d2')]), batching.uploads([ref('d3'), ref('d4')])];
  await tick();
  assert.equal(calls.length, 1, 'nothing more leaves while the first call is out');
  calls[0]!.settle();
  await first;
  assert.ok(firstDone);
  await tick();
  assert.deepEqual(calls.map((c) => c.ids), [['d1'], ['d2', 'd3', 'd4']], 'the waiting hints leave in one call');
  let laterDone = false;
  const all = Promise.all(later).then(() => (laterDone = true));
  await tick();
  assert.equal(laterDone, false, 'resumed only once their own call returned');
  calls[1]!.settle();
  await all;
  await batching.settled();
});

it('a failed call is logged, never thrown: its callers resume, settled() waits for what is still out', async () => {
  const { inner, calls } = heldScheduler();
  const warnings: unknown[] = [];
  const batching = new BatchingScheduler(inner, { warn: (obj: unknown) => void warnings.push(obj) }, 0);
  const hint = batching.uploads([ref('d1')]);
  await tick();
  let settled = false;
  const done = batching.settled().then(() => (settled = true));
  await tick();
  assert.equal(settled, false);
  calls[0]!.settle(new Error('Redis away'));
  await hint;
  await done;
  assert.equal(warnings.length, 1);
});

it('a hint waits a moment for company: hints handed over within the linger leave in one call', async () => {
  const { inner, calls } = heldScheduler();
  const batching = new BatchingScheduler(inner, { warn: () => {} }, 50);
  const hints = [batching.uploads([ref('d1')])];
  await new Promise((resolve) => setTimeout(resolve, 10));
  hints.push(batching.uploads([ref('d2')]));
  assert.equal(calls.length, 0, 'nothing left during the linger');
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.deepEqual(calls.map((c) => c.ids), [['d1', 'd2']]);
  calls[0]!.settle();
  await Promise.all(hints);
});
