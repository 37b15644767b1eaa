import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  batchCreate,
  CLIENT,
  configure,
  control,
  emulator,
  faults,
  form,
  items,
  libraryItems,
  link,
  stats,
  uploadRaw,
  uploadToken,
} from './helpers.ts';
import { jpeg } from './media.ts';

const list = (base: string, token: string) => fetch(`${base}/v1/mediaItems`, { headers: { authorization: `Bearer ${token}` } });
const refresh = (base: string, refreshToken: string) =>
  fetch(`${base}/token`, form({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLIENT.id, client_secret: CLIENT.secret }));

test('429 with and without Retry-After, consumed after `times`', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  await faults(url, [
    { endpoint: 'upload', fault: { kind: '429', retryAfter: 30 } },
    { endpoint: 'upload', fault: { kind: '429' } },
  ]);
  const first = await uploadRaw(url, access_token, jpeg());
  assert.equal(first.status, 429);
  assert.equal(first.headers.get('retry-after'), '30');
  assert.equal(((await first.json()) as any).error.status, 'RESOURCE_EXHAUSTED');
  const second = await uploadRaw(url, access_token, jpeg());
  assert.equal(second.status, 429);
  assert.equal(second.headers.get('retry-after'), null);
  assert.equal((await uploadRaw(url, access_token, jpeg())).status, 200);
  assert.deepEqual((await stats(url)).requests.upload, { '429': 2, '200': 1 });
});

test('5xx: 500 and 503 as JSON envelopes, 502 as an HTML page; `times` repeats', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  const token = await uploadToken(url, access_token, jpeg());
  await faults(url, [
    { endpoint: 'batchCreate', times: 2, fault: { kind: '5xx' } },
    { endpoint: 'batchCreate', fault: { kind: '5xx', status: 503 } },
    { endpoint: 'batchCreate', fault: { kind: '5xx', status: 502 } },
  ]);
  for (const [status, canonical] of [[500, 'INTERNAL'], [500, 'INTERNAL'], [503, 'UNAVAILABLE']] as const) {
    const res = await batchCreate(url, access_token, items([token, 'a.jpg']));
    assert.equal(res.status, status);
    assert.equal(((await res.json()) as any).error.status, canonical);
  }
  const html = await batchCreate(url, access_token, items([token, 'a.jpg']));
  assert.equal(html.status, 502);
  assert.match(html.headers.get('content-type')!, /text\/html/);
  assert.equal((await libraryItems(url, 'user1@example.com')).length, 0);
  assert.equal((await batchCreate(url, access_token, items([token, 'a.jpg']))).status, 200);
});

test('latency: one-off via a fault rule, persistent via config', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  await faults(url, [{ endpoint: 'any', fault: { kind: 'latency', ms: 150 } }]);
  let t0 = performance.now();
  assert.equal((await list(url, access_token)).status, 200);
  assert.ok(performance.now() - t0 >= 140);

  await configure(url, { latencyMs: 100 });
  t0 = performance.now();
  await list(url, access_token);
  assert.ok(performance.now() - t0 >= 90);
  await configure(url, { latencyMs: 0 });
});

test('drop mid-upload after N bytes: the client sees a network error and no token exists', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  await faults(url, [{ endpoint: 'upload', fault: { kind: 'drop', afterBytes: 100 } }]);
  await assert.rejects(uploadRaw(url, access_token, jpeg(50_000)));
  const s = await stats(url);
  assert.equal(s.requests.upload.dropped, 1);
  assert.ok(s.bytesReceived >= 100);
  assert.equal((await uploadRaw(url, access_token, jpeg())).status, 200);
});

test('drop without afterBytes loses the response after the work is done: a retried batchCreate is harmless', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  const token = await uploadToken(url, access_token, jpeg());
  await faults(url, [{ endpoint: 'batchCreate', fault: { kind: 'drop' } }]);
  await assert.rejects(batchCreate(url, access_token, items([token, 'a.jpg'])));
  const [created] = await libraryItems(url, 'user1@example.com');
  assert.ok(created, 'the item was created although the answer was lost');
  const retry = ((await (await batchCreate(url, access_token, items([token, 'a.jpg']))).json()) as any).newMediaItemResults[0];
  assert.equal(retry.mediaItem.id, created.id);
});

test('drop with afterBytes 0 on a non-upload endpoint cuts before any work', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  await faults(url, [{ endpoint: 'albums', fault: { kind: 'drop', afterBytes: 0 } }]);
  const create = () =>
    fetch(`${url}/v1/albums`, {
      method: 'POST',
      headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ album: { title: 'x' } }),
    });
  await assert.rejects(create());
  assert.deepEqual((await control(url, 'GET', 'libraries/user1%40example.com/albums')).albums, []);
  assert.equal((await create()).status, 200);
});

test('itemStatus: per-item 13 / 3 at an index or on every item; 6 still creates the item', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  const a = await uploadToken(url, access_token, jpeg());
  const b = await uploadToken(url, access_token, jpeg());
  await faults(url, [{ endpoint: 'batchCreate', fault: { kind: 'itemStatus', code: 13, index: 1 } }]);
  const res = await batchCreate(url, access_token, items([a, 'a.jpg'], [b, 'b.jpg']));
  assert.equal(res.status, 200);
  const [ok, failed] = ((await res.json()) as any).newMediaItemResults;
  assert.ok(ok.mediaItem);
  assert.equal(failed.status.code, 13);
  assert.equal(failed.mediaItem, undefined);

  await faults(url, [{ endpoint: 'any', fault: { kind: 'itemStatus', code: 3, message: 'nope' } }]);
  assert.equal((await list(url, access_token)).status, 200, 'an itemStatus rule waits for a batchCreate');
  const all = ((await (await batchCreate(url, access_token, items([a, 'a.jpg'], [b, 'b.jpg']))).json()) as any).newMediaItemResults;
  assert.deepEqual(all.map((r: any) => r.status), [{ code: 3, message: 'nope' }, { code: 3, message: 'nope' }]);

  const c = await uploadToken(url, access_token, jpeg());
  await faults(url, [{ endpoint: 'batchCreate', fault: { kind: 'itemStatus', code: 6 } }]);
  const [exists] = ((await (await batchCreate(url, access_token, items([c, 'c.jpg']))).json()) as any).newMediaItemResults;
  assert.equal(exists.status.code, 6);
  assert.equal((await libraryItems(url, 'user1@example.com')).length, 2);
});

test('expireUploadTokens makes the next batchCreate see expired tokens', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  const token = await uploadToken(url, access_token, jpeg());
  await faults(url, [{ endpoint: 'batchCreate', fault: { kind: 'expireUploadTokens' } }]);
  const res = await batchCreate(url, access_token, items([token, 'a.jpg']));
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as any).error.message, 'Request must contain a valid upload token.');
});

test('revokeRefreshTokens (scoped to one account) turns the next refresh into invalid_grant', async (t) => {
  const { url } = await emulator(t);
  const alice = await link(url, { email: 'alice@example.com' });
  const bob = await link(url, { email: 'bob@example.com' });
  await faults(url, [{ endpoint: 'token', fault: { kind: 'revokeRefreshTokens', email: 'alice@example.com' } }]);
  const res = await refresh(url, alice.refresh_token!);
  assert.equal(res.status, 400);
  assert.equal(((await res.json()) as any).error, 'invalid_grant');
  assert.equal((await refresh(url, bob.refresh_token!)).status, 200);
  assert.equal((await list(url, alice.access_token)).status, 401);
});

test('invalidateAccessTokens forces a refresh; 401 fails once with the token still valid', async (t) => {
  const { url } = await emulator(t);
  const tokens = await link(url);
  await faults(url, [{ endpoint: 'any', fault: { kind: 'invalidateAccessTokens' } }]);
  assert.equal((await list(url, tokens.access_token)).status, 401);
  const fresh = ((await (await refresh(url, tokens.refresh_token!)).json()) as any).access_token;
  assert.equal((await list(url, fresh)).status, 200);

  await faults(url, [{ endpoint: 'mediaItems', fault: { kind: '401' } }]);
  const once = await list(url, fresh);
  assert.equal(once.status, 401);
  assert.equal(((await once.json()) as any).error.status, 'UNAUTHENTICATED');
  assert.equal((await list(url, fresh)).status, 200);
});

test('rules can target one account', async (t) => {
  const { url } = await emulator(t);
  const alice = await link(url, { email: 'alice@example.com' });
  const bob = await link(url, { email: 'bob@example.com' });
  await faults(url, [{ endpoint: 'upload', match: { email: 'bob@example.com' }, fault: { kind: '5xx', status: 503 } }]);
  assert.equal((await uploadRaw(url, alice.access_token, jpeg())).status, 200);
  assert.equal((await uploadRaw(url, bob.access_token, jpeg())).status, 503);
});

test('faults on the token endpoint look like OAuth errors', async (t) => {
  const { url } = await emulator(t);
  const tokens = await link(url);
  await faults(url, [
    { endpoint: 'token', fault: { kind: '429', retryAfter: 5 } },
    { endpoint: 'token', fault: { kind: '5xx', status: 500 } },
  ]);
  const limited = await refresh(url, tokens.refresh_token!);
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('retry-after'), '5');
  assert.equal(typeof ((await limited.json()) as any).error, 'string');
  assert.equal((await refresh(url, tokens.refresh_token!)).status, 500);
  assert.equal((await refresh(url, tokens.refresh_token!)).status, 200);
});

test('control: list, clear, and reject malformed rules', async (t) => {
  const { url } = await emulator(t);
  await faults(url, [{ endpoint: 'upload', times: 3, fault: { kind: '5xx' } }]);
  assert.equal((await control(url, 'GET', 'faults')).rules[0].remaining, 3);
  await control(url, 'DELETE', 'faults');
  assert.deepEqual((await control(url, 'GET', 'faults')).rules, []);
  const bad = await fetch(`${url}/emulator/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rules: [{ endpoint: 'upload', fault: { kind: 'teapot' } }] }),
  });
  assert.equal(bad.status, 400);
  const badConfig = await fetch(`${url}/emulator/config`, {
    method: 'PATCH',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ dailyLimt: 5 }),
  });
  assert.equal(badConfig.status, 400);
});

test('reset clears state, faults, clock and config', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  await batchCreate(url, access_token, items([await uploadToken(url, access_token, jpeg()), 'a.jpg']));
  await faults(url, [{ endpoint: 'any', fault: { kind: '5xx' } }]);
  await configure(url, { dailyLimit: 1 });
  await control(url, 'POST', 'clock', { now: '2030-01-01T00:00:00Z' });
  await control(url, 'POST', 'reset');
  assert.deepEqual(await libraryItems(url, 'user1@example.com'), []);
  assert.deepEqual((await control(url, 'GET', 'faults')).rules, []);
  assert.equal((await control(url, 'GET', 'config')).dailyLimit, 10000);
  assert.ok(Math.abs(Date.parse((await control(url, 'GET', 'clock')).now) - Date.now()) < 5000);
  assert.equal((await list(url, access_token)).status, 401, 'tokens are gone too');
});
