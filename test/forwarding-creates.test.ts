import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { assertDeliveredExactlyOnce, count, member, send, stats, type Member } from './helpers/forwarding.ts';

// Pipelined creates (issue 14): a batchCreate starts as soon as a whole batch of tokens is ready, while the other
// uploads go on, and the last partial batch goes as soon as its last upload is in. The gather wait is set to a
// minute here, so a create that waited for it instead of being woken would blow the deadlines below.
const LATENCY_MS = 60;
const BURST = 130;
const GATHER_MS = 60_000;
const DEADLINE_MS = 20_000;

let rig: Rig;
let m: Member;
before(async () => {
  rig = await startRig({
    emulator: { latencyMs: LATENCY_MS },
    forwarding: { maxConcurrency: 16, adaptiveConcurrency: true, createDelayMs: GATHER_MS, createGatherMs: GATHER_MS },
  });
  m = await member(rig, 'Creates');
});
after(() => rig.close());

const backedUp = () => rig.relay.services.db.delivery.count({ where: { accountId: m.accountId, state: 'backed_up' } });

it('starts a batchCreate per whole batch while uploads go on, and the last partial batch as soon as the last upload is in', async () => {
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
  const shas: string[] = [];
  for (let i = 0; i < BURST; i++) {
    const photo = jpeg(70_000 + i);
    shas.push(sha256(photo));
    await send(m.phone, photo);
  }
  // In the ledger, sampled: did a whole batch become media items while photos were still to be uploaded?
  let overlapped = false;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const [row] = await rig.relay.services.db.$queryRaw<{ created: number; to_upload: number }[]>`
        SELECT count(*) FILTER (WHERE state = 'backed_up')::int AS created,
          count(*) FILTER (WHERE state IN ('pending', 'uploading') AND upload_token IS NULL)::int AS to_upload
        FROM deliveries WHERE account_id = ${m.accountId}::uuid`;
      if (row!.created >= 50 && row!.to_upload > 0) overlapped = true;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const started = Date.now();
  await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });
  try {
    await waitFor(`${BURST} photos backed up`, async () => (await backedUp()) === BURST, DEADLINE_MS, 20);
  } finally {
    sampling = false;
    await sampler;
  }
  const took = Date.now() - started;
  assert.ok(overlapped, 'a whole batch was created while photos were still to be uploaded');
  assert.ok(took < DEADLINE_MS, `the burst took ${took} ms`);
  const s = await stats(rig);
  assert.equal(count(s, 'batchCreate', '200'), Math.ceil(BURST / 50), 'whole batches of 50, then the rest once');
  assert.equal(s.batchCreate.overlaps, 0, 'never two batchCreates of the account at once');
  await assertDeliveredExactlyOnce(rig, m, shas);
});

it('creates a lone photo at once when nothing else of the account is coming', async () => {
  const before = count(await stats(rig), 'batchCreate', '200');
  const started = Date.now();
  await send(m.phone, jpeg(71_000));
  await waitFor('the photo backed up', async () => (await backedUp()) === BURST + 1, DEADLINE_MS, 20);
  assert.ok(Date.now() - started < DEADLINE_MS);
  assert.equal(count(await stats(rig), 'batchCreate', '200'), before + 1);
});
