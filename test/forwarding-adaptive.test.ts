import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { assertDeliveredExactlyOnce, count, faults, member, send, stats, type Member } from './helpers/forwarding.ts';

// Adaptive upload concurrency against the emulator: Google's side counts the uploads in flight for the account.
const LATENCY_MS = 40;
const BURST = 48;

let rig: Rig;
let m: Member;
before(async () => {
  rig = await startRig({ emulator: { latencyMs: LATENCY_MS }, forwarding: { maxConcurrency: 16, adaptiveConcurrency: true } });
  m = await member(rig, 'Storm');
});
after(() => rig.close());

let seed = 90_000;
const shas: string[] = [];

/** Send a burst with forwarding paused, then resume: a backlog the window can fill, as after a trip. */
async function burst(n: number): Promise<void> {
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
  for (let i = 0; i < n; i++) {
    const photo = jpeg(seed++);
    shas.push(sha256(photo));
    await send(m.phone, photo);
  }
  await rig.control('DELETE', '/emulator/stats/upload-peaks');
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });
  await waitFor(`${shas.length} photos backed up`, async () => {
    const s = await stats(rig);
    return (s.requests.batchCreate ? count(s, 'batchCreate', '200') : 0) > 0 &&
      (await rig.relay.services.db.delivery.count({ where: { accountId: m.accountId, state: 'backed_up' } })) === shas.length;
  }, 60_000, 50);
}

const windowOf = () => rig.worker!.context.windows.of(m.accountId);
const peak = async () => (await stats(rig)).uploads.peakPerUser[m.email] ?? 0;

it('grows past the old fixed 4 while Google answers promptly, halves down on a 429 storm, recovers after it; nothing sent twice, one batchCreate at a time', async () => {
  // Calm: the window opens from 4 toward the ceiling, and Google sees it.
  await burst(BURST);
  const grown = windowOf().limit;
  const calmPeak = await peak();
  assert.ok(grown >= 8, `window after a calm burst: ${grown}`);
  assert.ok(calmPeak >= 8, `uploads in flight at Google at most ${calmPeak}`);

  // Storm: Google refuses the next 40 uploads with 429 (per-user rate). Each window that meets it halves.
  await faults(rig, { endpoint: 'upload', times: 40, fault: { kind: '429' }, match: { email: m.email } });
  let smallest = Infinity;
  const sampler = setInterval(() => (smallest = Math.min(smallest, windowOf().limit)), 1);
  await burst(24).finally(() => clearInterval(sampler));
  const after429 = await stats(rig);
  assert.equal(count(after429, 'upload', '429'), 40, 'the whole storm was met');
  assert.ok(smallest <= 2, `the window shrank to ${smallest} (from ${grown})`);

  // After the storm: prompt answers open it again, one slot per window of answers (the storm set the threshold low).
  await burst(2 * BURST);
  const recovered = windowOf().limit;
  assert.ok(recovered >= 8, `window after the storm: ${recovered}`);
  assert.ok((await peak()) >= 8, `uploads in flight at Google after the storm: ${await peak()}`);

  // Exactly once, through all of it, and never two batchCreates of the account at once.
  await assertDeliveredExactlyOnce(rig, m, shas);
  const s = await stats(rig);
  assert.equal(s.batchCreate.overlaps, 0);
  assert.equal(count(s, 'upload', '200'), shas.length, 'each photo uploaded once: a 429 sent nothing');
});
