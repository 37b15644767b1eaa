import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, mp4, sha256 } from './helpers/media.ts';
import {
  account,
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

const MIN_WAIT_MS = 2500;
const GRANULE = 262_144;

let rig: Rig;
let log: ReturnType<typeof requestLog>;
before(async () => {
  rig = await startRig({
    // A measurable 429 minimum; videos over 1 MiB go resumable in 512 KiB chunks.
    forwarding: { minRateLimitWaitMs: MIN_WAIT_MS, resumableThresholdBytes: 1024 * 1024, chunkBytes: 2 * GRANULE },
  });
  log = requestLog(rig);
});
after(() => rig.close());

/** The account's throttled_until, once the relay has recorded the 429 (it does so just after the answer arrives). */
async function throttledUntil(accountId: string): Promise<number> {
  return waitFor('throttled_until set', async () => {
    const row = await rig.relay.services.db.account.findUniqueOrThrow({ where: { id: accountId } });
    return row.throttledUntil?.getTime() ?? 0;
  }, 5000, 5);
}

/**
 * After a 429 for this account: throttled_until is at least `minWaitMs` after the refused request arrived, and no
 * request of this account reaches Google before then, not even for photos that arrive during the wait. Then
 * everything is delivered. Times are the emulator's arrival stamps (requestLog), exact whatever the machine's load.
 */
async function assertThrottled(m: Awaited<ReturnType<typeof member>>, log: ReturnType<typeof requestLog>, endpoint: string, minWaitMs: number, photos: number): Promise<void> {
  const refused = (await waitFor('the refused request', async () => log.of(m.email).find((r) => r.path.endsWith(endpoint)), 20_000, 10))!;
  const until = await throttledUntil(m.accountId);
  assert.ok(until >= refused.at + minWaitMs, `throttled for ${until - refused.at} ms after the 429, expected ≥ ${minWaitMs}`);
  assert.ok(until <= refused.at + minWaitMs * 1.2 + 2000, `throttled for ${until - refused.at} ms: far longer than asked`);
  // More photos arrive during the wait: they must wait too.
  const more = [jpeg(3000), jpeg(3100)];
  for (const bytes of more) await send(m.phone, bytes);
  await waitFor('all delivered', async () => (await account(rig, m.accountId)).counts.backedUp === photos + more.length, 30_000);
  const after = log.of(m.email).filter((r) => r.at > refused.at);
  assert.ok(after.length > 0);
  for (const r of after) assert.ok(r.at >= until, `${r.path} reached Google ${until - r.at} ms before throttled_until`);
  assert.ok(after[0]!.at - refused.at >= minWaitMs, `next request ${after[0]!.at - refused.at} ms after the 429`);
  await assertDeliveredExactlyOnce(rig, m);
}

it('429 without Retry-After: the account waits at least the configured minimum; nothing is sent meanwhile', async () => {
  const m = await member(rig, 'NoRetryAfter');
  await faults(rig, { endpoint: 'upload', fault: { kind: '429' }, match: { email: m.email } });
  const base = await stats(rig);
  await send(m.phone, jpeg(5000));
  await assertThrottled(m, log, '/v1/uploads', MIN_WAIT_MS, 1);
  const s = await stats(rig);
  assert.equal(count(s, 'upload', '429') - count(base, 'upload', '429'), 1);
});

it('429 with Retry-After: the account waits as long as Google asked, when that is longer than the minimum', async () => {
  const m = await member(rig, 'RetryAfter');
  await faults(rig, { endpoint: 'upload', fault: { kind: '429', retryAfter: 3 }, match: { email: m.email } });
  await send(m.phone, jpeg(5000));
  await assertThrottled(m, log, '/v1/uploads', 3000, 1);
});

it('429 on batchCreate throttles the account the same way, and the items are created after the wait', async () => {
  const m = await member(rig, 'CreateThrottled');
  await faults(rig, { endpoint: 'batchCreate', fault: { kind: '429' }, match: { email: m.email } });
  await send(m.phone, jpeg(5000));
  await assertThrottled(m, log, ':batchCreate', MIN_WAIT_MS, 1);
});

it('5xx then success: retried with exponential backoff from 1 s, then backed up once', async () => {
  const m = await member(rig, 'ServerErrors');
  await faults(
    rig,
    { endpoint: 'upload', fault: { kind: '5xx', status: 503 }, match: { email: m.email } },
    { endpoint: 'upload', fault: { kind: '5xx', status: 502 }, match: { email: m.email } },
  );
  const base = await stats(rig);
  const id = await send(m.phone, jpeg(8000));
  const asset = await waitAssetState(rig, id, 'backed_up', 20_000);
  const s = await stats(rig);
  assert.equal(count(s, 'upload', '503') - count(base, 'upload', '503'), 1);
  assert.equal(count(s, 'upload', '502') - count(base, 'upload', '502'), 1);
  const [first, second, third] = log.of(m.email).filter((r) => r.path === '/v1/uploads');
  assert.ok(first && second && third);
  assert.ok(second.at - first.at >= 1000, `second try ${second.at - first.at} ms after the first (backoff starts at 1 s)`);
  assert.ok(third.at - second.at >= 2000, `third try ${third.at - second.at} ms after the second (backoff doubles)`);
  assert.equal(asset.attempts, 3);
  await assertDeliveredExactlyOnce(rig, m);
});

it('latency: slow answers are waited for, not abandoned and repeated', async () => {
  const m = await member(rig, 'Slow');
  await faults(
    rig,
    { endpoint: 'upload', fault: { kind: 'latency', ms: 2500 }, match: { email: m.email } },
    { endpoint: 'batchCreate', fault: { kind: 'latency', ms: 2500 }, match: { email: m.email } },
  );
  const base = await stats(rig);
  const started = Date.now();
  const id = await send(m.phone, jpeg(6000));
  const asset = await waitAssetState(rig, id, 'backed_up', 20_000);
  assert.ok(Date.now() - started >= 5000, 'both slow answers were awaited');
  const s = await stats(rig);
  assert.equal(count(s, 'upload') - count(base, 'upload'), 1, 'the upload was sent once');
  assert.equal(count(s, 'batchCreate') - count(base, 'batchCreate'), 1, 'batchCreate was sent once');
  assert.equal(asset.attempts, 1);
  await assertDeliveredExactlyOnce(rig, m);
});

it('a connection dropped mid-upload is retried and the photo backed up once', async () => {
  const m = await member(rig, 'Dropped');
  await faults(rig, { endpoint: 'upload', fault: { kind: 'drop', afterBytes: 10_000 }, match: { email: m.email } });
  const base = await stats(rig);
  const photo = jpeg(60_000);
  const id = await send(m.phone, photo);
  await waitAssetState(rig, id, 'backed_up', 20_000);
  const s = await stats(rig);
  assert.equal(count(s, 'upload', 'dropped') - count(base, 'upload', 'dropped'), 1);
  assert.equal(count(s, 'upload', '200') - count(base, 'upload', '200'), 1);
  assert.equal(s.bytesReceived - base.bytesReceived, 10_000 + photo.length, 'cut after 10 000 bytes, then sent whole once');
  await assertDeliveredExactlyOnce(rig, m, [sha256(photo)]);
});

it('a connection dropped mid-resumable upload resumes from the offset Google reports, not from zero', async () => {
  const m = await member(rig, 'ResumableDrop');
  const video = mp4(5 * GRANULE + 12_345);
  const cutAt = 2 * GRANULE + 100_000; // inside the second 512 KiB chunk
  // Rules are taken in order, one per request: the first chunk (512 KiB) takes the harmless one and passes; the
  // second chunk is cut 100 000 bytes in.
  await faults(rig, { endpoint: 'uploadChunk', fault: { kind: 'latency', ms: 0 }, match: { email: m.email } }, {
    endpoint: 'uploadChunk',
    fault: { kind: 'drop', afterBytes: cutAt - 2 * GRANULE },
    match: { email: m.email },
  });
  const base = await stats(rig);
  const id = await send(m.phone, video, 'VID_1.mp4');
  await waitAssetState(rig, id, 'backed_up', 20_000);
  const s = await stats(rig);
  assert.equal(s.resumable.sessions - base.resumable.sessions, 1, 'one session: resumed, not restarted');
  assert.ok(s.resumable.queries - base.resumable.queries >= 1, 'asked Google how much arrived');
  assert.equal(count(s, 'uploadChunk', 'dropped') - count(base, 'uploadChunk', 'dropped'), 1);
  // Google keeps whole granules only: 2 granules + the cut chunk's 100 000 bytes were received, then the rest from 2 granules on.
  const persisted = 2 * GRANULE;
  assert.equal(s.bytesReceived - base.bytesReceived, cutAt + (video.length - persisted), 'bytes after the reported offset only');
  assert.ok(s.bytesReceived - base.bytesReceived < video.length + GRANULE, 'far less than sending the file again');
  await assertDeliveredExactlyOnce(rig, m, [sha256(video)]);
});

it('401 on an invalidated access token: the relay refreshes it and goes on (the link stays)', async () => {
  const m = await member(rig, 'Invalidated');
  // A first photo, so the relay holds an access token (its first one comes from a refresh too).
  await send(m.phone, jpeg(4900));
  await waitFor('first photo backed up', async () => (await account(rig, m.accountId)).counts.backedUp === 1);
  await faults(rig, { endpoint: 'upload', fault: { kind: 'invalidateAccessTokens' }, match: { email: m.email } });
  const base = await stats(rig);
  const id = await send(m.phone, jpeg(5000));
  await waitAssetState(rig, id, 'backed_up');
  const s = await stats(rig);
  assert.equal(count(s, 'upload', '401') - count(base, 'upload', '401'), 1);
  assert.equal(count(s, 'token', '200') - count(base, 'token', '200'), 1, 'one refresh');
  assert.equal((await account(rig, m.accountId)).google.status, 'linked');
  assert.equal((await assetOf(rig, id)).attempts, 1, 'the refresh is not a failed attempt');
  await assertDeliveredExactlyOnce(rig, m);
});

it('401 on an access token expired at Google (clock moved on): refreshed, forwarding continues', async () => {
  const m = await member(rig, 'Expired');
  await send(m.phone, jpeg(5000));
  await waitFor('first photo backed up', async () => (await account(rig, m.accountId)).counts.backedUp === 1);
  // Two hours later at Google: the relay's cached access token (valid 1 h) is dead, though the relay thinks it fresh.
  await rig.control('POST', '/emulator/clock', { advanceMs: 2 * 3600_000 });
  try {
    const base = await stats(rig);
    const id = await send(m.phone, jpeg(5100));
    await waitAssetState(rig, id, 'backed_up');
    const s = await stats(rig);
    assert.equal(count(s, 'upload', '401') - count(base, 'upload', '401'), 1);
    assert.equal(count(s, 'token', '200') - count(base, 'token', '200'), 1);
    assert.equal((await account(rig, m.accountId)).google.status, 'linked');
    await assertDeliveredExactlyOnce(rig, m);
  } finally {
    await rig.control('POST', '/emulator/clock', { advanceMs: -2 * 3600_000 });
  }
});

it('two 401s in a row (a refreshed token refused too) break the link rather than loop', async () => {
  const m = await member(rig, 'Refused');
  await faults(rig, { endpoint: 'upload', times: 2, fault: { kind: '401' }, match: { email: m.email } });
  const base = await stats(rig);
  const id = await send(m.phone, jpeg(5000));
  await waitFor('needs re-authorization', async () => (await account(rig, m.accountId)).google.status === 'needs_reauth');
  assert.equal((await assetOf(rig, id)).state, 'needs_reauth');
  const s = await stats(rig);
  assert.equal(count(s, 'upload', '401') - count(base, 'upload', '401'), 2);
  // Re-linking resumes it.
  await rig.link(m.accountId, m.email);
  await waitAssetState(rig, id, 'backed_up');
  await assertDeliveredExactlyOnce(rig, m);
});
