import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg } from './helpers/media.ts';
import {
  account,
  assertDeliveredExactlyOnce,
  assetOf,
  assetsOf,
  count,
  faults,
  library,
  member,
  photosRequests,
  requestLog,
  send,
  stats,
  waitAllState,
  waitAssetState,
  watchStats,
} from './helpers/forwarding.ts';

let rig: Rig;
let log: ReturnType<typeof requestLog>;
before(async () => {
  rig = await startRig();
  log = requestLog(rig);
});
after(() => rig.close());

const calls = async (email: string) => (await stats(rig)).batchCreate.calls[email] ?? 0;

it('per-item code 3 (INVALID_ARGUMENT): the asset fails with Google\'s reason and is not retried', async () => {
  const m = await member(rig, 'Code3');
  await faults(rig, { endpoint: 'batchCreate', fault: { kind: 'itemStatus', code: 3, message: 'Failed: media type not supported for this item' }, match: { email: m.email } });
  const id = await send(m.phone, jpeg(5000));
  const asset = await waitAssetState(rig, id, 'failed');
  assert.match(asset.lastError ?? '', /code 3.*media type not supported/);
  assert.equal(asset.googleMediaItemId, null);
  // Permanent: nothing more is tried, through several reconcile rounds.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(await calls(m.email), 1);
  assert.equal((await assetOf(rig, id)).state, 'failed');
  const view = await account(rig, m.accountId);
  assert.equal(view.counts.failed, 1);
});

it('per-item code 6 (ALREADY_EXISTS): success, the asset is backed up', async () => {
  const m = await member(rig, 'Code6');
  await faults(rig, { endpoint: 'batchCreate', fault: { kind: 'itemStatus', code: 6 }, match: { email: m.email } });
  const id = await send(m.phone, jpeg(5000));
  const asset = await waitAssetState(rig, id, 'backed_up');
  assert.equal(asset.lastError, null);
  assert.equal(await calls(m.email), 1, 'not retried');
  await assertDeliveredExactlyOnce(rig, m);
});

it('per-item code 13 (INTERNAL): retried after a backoff, then backed up', async () => {
  const m = await member(rig, 'Code13');
  await faults(rig, { endpoint: 'batchCreate', fault: { kind: 'itemStatus', code: 13 }, match: { email: m.email } });
  const base = await stats(rig);
  const id = await send(m.phone, jpeg(5000));
  const asset = await waitAssetState(rig, id, 'backed_up', 20_000);
  assert.equal(await calls(m.email), 2);
  const [failed, retried] = log.of(m.email).filter((r) => r.path.endsWith(':batchCreate'));
  assert.ok(retried!.at - failed!.at >= 1000, `retried ${retried!.at - failed!.at} ms later: a backoff from 1 s, not at once`);
  assert.ok(asset.attempts >= 2);
  const s = await stats(rig);
  assert.equal(count(s, 'upload') - count(base, 'upload'), 1, 'the upload token was kept: the bytes went once');
  await assertDeliveredExactlyOnce(rig, m);
});

it('expired upload tokens: the bytes are uploaded again, then the item is created', async () => {
  const m = await member(rig, 'ExpiredTokens');
  // The fault expires every upload token of this user just as batchCreate arrives.
  await faults(rig, { endpoint: 'batchCreate', fault: { kind: 'expireUploadTokens' }, match: { email: m.email } });
  const base = await stats(rig);
  const id = await send(m.phone, jpeg(5000));
  await waitAssetState(rig, id, 'backed_up', 20_000);
  const s = await stats(rig);
  assert.equal(count(s, 'batchCreate', '400') - count(base, 'batchCreate', '400'), 1, 'Google refused the expired token');
  assert.equal(count(s, 'upload', '200') - count(base, 'upload', '200'), 2, 'uploaded again');
  assert.equal(await calls(m.email), 2);
  await assertDeliveredExactlyOnce(rig, m);
});

it('revoked refresh token: the account needs re-authorization, its assets wait (nothing dropped, nothing sent); re-linking resumes by itself', async () => {
  const m = await member(rig, 'Revoked');
  const first = await send(m.phone, jpeg(5000));
  await waitAssetState(rig, first, 'backed_up');
  // The user revokes the app's access at Google: the next request finds every token dead.
  await faults(rig, { endpoint: 'upload', fault: { kind: 'revokeRefreshTokens' }, match: { email: m.email } });
  const ids = [await send(m.phone, jpeg(5100))];
  await waitFor('needs re-authorization', async () => (await account(rig, m.accountId)).google.status === 'needs_reauth');
  ids.push(await send(m.phone, jpeg(5200)), await send(m.phone, jpeg(5300)));
  const view = await account(rig, m.accountId);
  assert.match(view.google.error ?? '', /invalid_grant|expired or revoked/);
  for (const id of ids) assert.equal((await assetOf(rig, id)).state, 'needs_reauth');
  assert.equal((await assetOf(rig, first)).state, 'backed_up', 'what was delivered stays delivered');
  // Held, not dropped: the deliveries are still open, and nothing reaches Google through several reconcile rounds.
  const frozen = photosRequests(await stats(rig));
  for (const s of await watchStats(rig, 2500, 50)) assert.equal(photosRequests(s), frozen, 'a request was sent for an account needing re-authorization');
  const deliveries = await rig.relay.services.db.delivery.findMany({ where: { accountId: m.accountId } });
  assert.equal(deliveries.filter((d) => d.state === 'pending' || d.state === 'uploading').length, 3);
  assert.equal(deliveries.filter((d) => d.state === 'failed').length, 0);
  assert.equal((await library(rig, m.email)).length, 1);

  await rig.link(m.accountId, m.email);
  assert.equal((await account(rig, m.accountId)).google.status, 'linked');
  await waitAllState(rig, m.accountId, 'backed_up', 20_000, 4);
  await assertDeliveredExactlyOnce(rig, m);
  assert.equal((await assetsOf(rig, m.accountId)).length, 4);
});
