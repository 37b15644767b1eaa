import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg } from './helpers/media.ts';
import { account, assertDeliveredExactlyOnce, count, faults, library, member, send, stats, waitAllState, watchStats, type Member } from './helpers/forwarding.ts';

const LIMIT = 20;

let rig: Rig;
/** The relay's and Google's clocks run together, shifted by `offset` from real time. */
let offset = 0;
before(async () => {
  rig = await startRig({
    env: { GOOGLE_DAILY_REQUEST_LIMIT: String(LIMIT) },
    // These tests move both clocks past a Pacific midnight, 13 hours on. The relay's OAuth client times its access
    // tokens by the real clock, the emulator by its own: an hour-long token would be stale at the emulator after the
    // jump, and the first requests of the new day would each come back 401 (each one counted, as the relay counts
    // every request it sends), spending the small budget on nothing. Real time never jumps; tokens here outlive it.
    emulator: { accessTokenTtlSec: 3 * 24 * 3600 },
  });
  rig.relay.services.clock = () => new Date(Date.now() + offset);
});
after(() => rig.close());

async function setClocks(at: Date): Promise<void> {
  offset = at.getTime() - Date.now();
  await rig.control('POST', '/emulator/clock', { now: at.toISOString() });
}

async function status(): Promise<any> {
  const res = await rig.admin.call('GET', '/api/v1/admin/status');
  assert.equal(res.status, 200);
  return res.body;
}

const pause = (m: Member, forwarding: 'active' | 'paused') => rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding });

it('forwarding stops at the daily limit, status reports it, the small account is served while the large one waits, and all resumes after the Pacific midnight', async () => {
  // 11:00 in California (PDT): the quota day ends at 07:00 UTC tomorrow.
  await setClocks(new Date('2026-06-10T18:00:00Z'));
  const big = await member(rig, 'Big');
  const small = await member(rig, 'Small');
  await pause(big, 'paused');
  await pause(small, 'paused');
  // Big needs 30 uploads + a batchCreate: more than a day's budget. Small needs 2 uploads + 1 batchCreate.
  for (let i = 0; i < 30; i++) await send(big.phone, jpeg(4000 + i));
  for (let i = 0; i < 2; i++) await send(small.phone, jpeg(6000 + i));
  const googleBefore = (await stats(rig)).quota.used;
  // Small's uploads are slow: Big could spend the whole budget before Small is ready to create its items.
  // Fair share keeps Small's part of the day for it while it still has work waiting.
  await faults(rig, { endpoint: 'upload', times: 2, fault: { kind: 'latency', ms: 1500 }, match: { email: small.email } });
  await pause(big, 'active');
  await pause(small, 'active');

  await waitAllState(rig, small.accountId, 'backed_up', 20_000, 2);
  const day1 = await waitFor('the day\'s budget spent', async () => {
    const s = await status();
    return s.quota.usedToday >= LIMIT ? s : null;
  }, 20_000);
  // Nothing more goes out today, through several quota rechecks and reconcile rounds.
  const frozen = (await stats(rig)).quota.used;
  for (const s of await watchStats(rig, 2500, 50)) assert.equal(s.quota.used, frozen, 'a request reached Google after the budget was spent');
  assert.ok(frozen - googleBefore <= LIMIT, `Google saw ${frozen - googleBefore} requests, the limit is ${LIMIT}`);

  assert.equal(day1.quota.usedToday, LIMIT);
  assert.equal(day1.quota.dailyLimit, LIMIT);
  assert.equal(day1.quota.resetsAt, '2026-06-11T07:00:00.000Z');
  const bigRow = day1.accounts.find((a: { id: string }) => a.id === big.accountId);
  const smallRow = day1.accounts.find((a: { id: string }) => a.id === small.accountId);
  assert.equal(smallRow.backlog, 0);
  assert.ok(smallRow.quotaUsedToday >= 3, 'Small spent its requests');
  assert.ok(bigRow.backlog > 0, 'Big waits for tomorrow');
  assert.ok(bigRow.quotaUsedToday <= LIMIT - smallRow.quotaUsedToday);
  const untilReset = (Date.parse('2026-06-11T07:00:00Z') - (Date.now() + offset)) / 1000;
  assert.ok(bigRow.etaSeconds >= untilReset - 5, `Big's ETA (${bigRow.etaSeconds} s) is after the reset (${untilReset} s away)`);
  const bigView = await account(rig, big.accountId);
  assert.ok(bigView.counts.backedUp < 30);
  assert.equal(bigView.counts.failed, 0, 'waiting for quota is not a failure');

  // Past midnight in California: a new budget, and Big finishes by itself.
  const beforeReset = await stats(rig);
  await setClocks(new Date('2026-06-11T07:00:30Z'));
  await waitAllState(rig, big.accountId, 'backed_up', 30_000, 30);
  // The new day's uploads finish apart from each other; their media items still go in a few batches, not one each.
  const creates = count(await stats(rig), 'batchCreate', '200') - count(beforeReset, 'batchCreate', '200');
  assert.ok(creates <= 3, `${creates} batchCreates for Big's ${30 - bigView.counts.backedUp} photos left after the reset`);
  await assertDeliveredExactlyOnce(rig, big);
  await assertDeliveredExactlyOnce(rig, small);
  const day2 = await status();
  assert.equal(day2.quota.resetsAt, '2026-06-12T07:00:00.000Z');
  assert.ok(day2.quota.usedToday > 0 && day2.quota.usedToday <= LIMIT);
});

it('Google\'s own daily-quota 429: the relay stops asking until the reset instead of knocking all night, then finishes', async () => {
  await setClocks(new Date('2026-06-20T18:00:00Z'));
  // Google's count for the project is lower than the relay's budget (other clients share the project).
  await rig.control('PATCH', '/emulator/config', { dailyLimit: 4 });
  try {
    const m = await member(rig, 'Knocker');
    const base = await stats(rig);
    for (let i = 0; i < 8; i++) await send(m.phone, jpeg(7000 + i));
    await waitFor('Google refuses', async () => count(await stats(rig), 'upload', '429') + count(await stats(rig), 'batchCreate', '429') > count(base, 'upload', '429') + count(base, 'batchCreate', '429'));
    // A few requests were in flight when the first 429 came; after those, silence until the reset.
    await new Promise((r) => setTimeout(r, 1000));
    const refusedSoon = (s: typeof base) => count(s, 'upload', '429') + count(s, 'batchCreate', '429') - count(base, 'upload', '429') - count(base, 'batchCreate', '429');
    const settled = refusedSoon(await stats(rig));
    for (const s of await watchStats(rig, 3000, 50)) assert.equal(refusedSoon(s), settled, 'the relay kept asking after Google said the day is spent');
    assert.ok(settled <= 5, `${settled} refused requests: only those already under way`);
    const s = await status();
    assert.equal(s.quota.usedToday, LIMIT, 'the ledger believes Google: today is spent');
    assert.equal(s.quota.resetsAt, '2026-06-21T07:00:00.000Z');
    assert.equal((await account(rig, m.accountId)).counts.failed, 0);
    assert.ok((await library(rig, m.email)).length < 8);

    await rig.control('PATCH', '/emulator/config', { dailyLimit: 10_000 });
    await setClocks(new Date('2026-06-21T07:01:00Z'));
    await waitAllState(rig, m.accountId, 'backed_up', 30_000, 8);
    await assertDeliveredExactlyOnce(rig, m);
  } finally {
    await rig.control('PATCH', '/emulator/config', { dailyLimit: 10_000 });
  }
});
