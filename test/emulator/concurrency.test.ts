import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_CONFIG } from '../../src/emulator/config.ts';
import { batchCreate, emulator, items, link, stats, uploadToken } from './helpers.ts';

// The shipped hold time, not the test helper's zero: overlaps must be visible with the defaults.
const defaults = { batchCreateMinHoldMs: DEFAULT_CONFIG.batchCreateMinHoldMs };
import { jpeg } from './media.ts';

test('two concurrent batchCreates for the same account are an overlap, even with zero latency', async (t) => {
  const { url } = await emulator(t, defaults);
  const { access_token } = await link(url, { email: 'alice@example.com' });
  const [a, b] = await Promise.all([uploadToken(url, access_token, jpeg()), uploadToken(url, access_token, jpeg())]);
  const results = await Promise.all([batchCreate(url, access_token, items([a!, 'a.jpg'])), batchCreate(url, access_token, items([b!, 'b.jpg']))]);
  assert.deepEqual(results.map((r) => r.status), [200, 200]);
  const s = (await stats(url)).batchCreate;
  assert.equal(s.overlaps, 1);
  assert.equal(s.maxConcurrentPerUser['alice@example.com'], 2);
  assert.equal(s.calls['alice@example.com'], 2);
});

test('sequential calls, or concurrent calls for different accounts, are not overlaps', async (t) => {
  const { url } = await emulator(t, defaults);
  const alice = await link(url, { email: 'alice@example.com' });
  const bob = await link(url, { email: 'bob@example.com' });
  const ta = await uploadToken(url, alice.access_token, jpeg());
  const tb = await uploadToken(url, bob.access_token, jpeg());
  await batchCreate(url, alice.access_token, items([ta, 'a.jpg']));
  await batchCreate(url, alice.access_token, items([ta, 'a.jpg']));
  await Promise.all([batchCreate(url, alice.access_token, items([ta, 'a.jpg'])), batchCreate(url, bob.access_token, items([tb, 'b.jpg']))]);
  const s = (await stats(url)).batchCreate;
  assert.equal(s.overlaps, 0);
  assert.deepEqual(s.maxConcurrentPerUser, { 'alice@example.com': 1, 'bob@example.com': 1 });
  assert.deepEqual(s.calls, { 'alice@example.com': 3, 'bob@example.com': 1 });
  assert.deepEqual(s.inFlight, {});
});

test('concurrentBatchCreate=reject answers the overlapping call with 429 (observed per-user limit)', async (t) => {
  const { url } = await emulator(t, { concurrentBatchCreate: 'reject', batchCreateMinHoldMs: 50 });
  const { access_token } = await link(url);
  const token = await uploadToken(url, access_token, jpeg());
  const results = await Promise.all([batchCreate(url, access_token, items([token, 'a.jpg'])), batchCreate(url, access_token, items([token, 'a.jpg']))]);
  assert.deepEqual(results.map((r) => r.status).sort(), [200, 429]);
});
