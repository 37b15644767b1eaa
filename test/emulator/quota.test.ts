import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configure, control, emulator, link, stats, uploadRaw } from './helpers.ts';
import { jpeg } from './media.ts';

const list = (base: string, token: string) => fetch(`${base}/v1/mediaItems`, { headers: { authorization: `Bearer ${token}` } });

test('daily quota: 429 RESOURCE_EXHAUSTED once spent, shared by all accounts, reset at Pacific midnight', async (t) => {
  const { url } = await emulator(t, { dailyLimit: 3 });
  await control(url, 'POST', 'clock', { now: '2025-01-15T23:58:00-08:00' });
  const alice = await link(url, { email: 'alice@example.com' });
  const bob = await link(url, { email: 'bob@example.com' });

  assert.equal((await list(url, alice.access_token)).status, 200);
  assert.equal((await uploadRaw(url, bob.access_token, jpeg())).status, 200);
  assert.equal((await list(url, bob.access_token)).status, 200);
  const over = await list(url, alice.access_token);
  assert.equal(over.status, 429);
  assert.deepEqual(await over.json(), {
    error: {
      code: 429,
      message:
        "Quota exceeded for quota metric 'All requests' and limit 'All requests per day' of service 'photoslibrary.googleapis.com' for consumer 'project_number:1'.",
      status: 'RESOURCE_EXHAUSTED',
    },
  });
  assert.equal((await uploadRaw(url, alice.access_token, jpeg())).status, 429, 'uploads are requests too');
  const s = await stats(url);
  assert.deepEqual(s.quota, { used: 3, limit: 3, resetsAt: '2025-01-16T08:00:00.000Z' });

  await control(url, 'POST', 'clock', { advanceMs: 60_000 });
  assert.equal((await list(url, alice.access_token)).status, 429, 'still 23:59 Pacific');
  await control(url, 'POST', 'clock', { advanceMs: 60_000 });
  // The access tokens are still valid: only ~2 minutes have passed.
  assert.equal((await list(url, alice.access_token)).status, 200, 'a new Pacific day');
  assert.equal((await stats(url)).quota.used, 1);
});

test('quota day follows daylight saving time (midnight PDT is 07:00 UTC)', async (t) => {
  const { url } = await emulator(t, { dailyLimit: 1 });
  await control(url, 'POST', 'clock', { now: '2025-07-04T06:59:00Z' });
  const { access_token } = await link(url);
  assert.equal((await list(url, access_token)).status, 200);
  assert.equal((await list(url, access_token)).status, 429);
  assert.equal((await stats(url)).quota.resetsAt, '2025-07-04T07:00:00.000Z');
  await control(url, 'POST', 'clock', { advanceMs: 61_000 });
  assert.equal((await list(url, access_token)).status, 200);
});

test('dailyLimit can be changed at runtime; unauthenticated calls do not spend it', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  await configure(url, { dailyLimit: 1 });
  assert.equal((await list(url, 'bogus')).status, 401);
  assert.equal((await list(url, access_token)).status, 200);
  assert.equal((await list(url, access_token)).status, 429);
});

test('per-user write rate limit (observed, off by default) answers 429 per account', async (t) => {
  const { url } = await emulator(t, { writeRequestsPerMinutePerUser: 2 });
  const alice = await link(url, { email: 'alice@example.com' });
  const bob = await link(url, { email: 'bob@example.com' });
  const album = (token: string) =>
    fetch(`${url}/v1/albums`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ album: { title: 't' } }),
    });
  assert.equal((await album(alice.access_token)).status, 200);
  assert.equal((await album(alice.access_token)).status, 200);
  const limited = await album(alice.access_token);
  assert.equal(limited.status, 429);
  assert.match(((await limited.json()) as any).error.message, /Write requests per minute per user/);
  assert.equal((await album(bob.access_token)).status, 200);
  await control(url, 'POST', 'clock', { advanceMs: 61_000 });
  assert.equal((await album(alice.access_token)).status, 200);
});
