import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  batchCreate,
  bytesBody,
  configure,
  control,
  emulator,
  items,
  libraryItems,
  link,
  rawUploadHeaders,
  SCOPES,
  uploadRaw,
  uploadToken,
} from './helpers.ts';
import { jpeg, mp4, png, sha256, unsupported } from './media.ts';

test('raw upload + batchCreate creates an item in the caller library', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url, { email: 'alice@example.com' });
  const bytes = png(640, 480);
  const res = await uploadRaw(url, access_token, bytes, { 'x-goog-upload-content-type': 'image/png' });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type')!, /^text\/plain/);
  const token = await res.text();

  const created = await batchCreate(url, access_token, { newMediaItems: [{ description: 'beach', simpleMediaItem: { uploadToken: token, fileName: 'IMG_1.png' } }] });
  assert.equal(created.status, 200);
  const [result] = ((await created.json()) as any).newMediaItemResults;
  assert.equal(result.uploadToken, token);
  assert.deepEqual(result.status, { message: 'Success' });
  assert.equal(result.mediaItem.filename, 'IMG_1.png');
  assert.equal(result.mediaItem.mimeType, 'image/png');
  assert.equal(result.mediaItem.description, 'beach');
  assert.equal(result.mediaItem.mediaMetadata.width, '640');
  assert.equal(result.mediaItem.mediaMetadata.height, '480');
  assert.ok(Date.parse(result.mediaItem.mediaMetadata.creationTime));
  assert.ok(result.mediaItem.productUrl.includes(result.mediaItem.id));

  const lib = await libraryItems(url, 'alice@example.com');
  assert.equal(lib.length, 1);
  assert.equal(lib[0].sha256, sha256(bytes));
  assert.equal(lib[0].size, bytes.length);
  assert.equal(lib[0].uploadTokenUsed, token);
  assert.deepEqual(await libraryItems(url, 'user1@example.com'), []);

  const got = await fetch(`${url}/v1/mediaItems/${result.mediaItem.id}`, { headers: { authorization: `Bearer ${access_token}` } });
  assert.equal(got.status, 200);
  assert.equal(((await got.json()) as any).id, result.mediaItem.id);
  const list = (await (await fetch(`${url}/v1/mediaItems`, { headers: { authorization: `Bearer ${access_token}` } })).json()) as any;
  assert.equal(list.mediaItems.length, 1);
});

test('identical bytes dedupe to the same media item, first filename kept; per-account', async (t) => {
  const { url } = await emulator(t);
  const alice = await link(url, { email: 'alice@example.com' });
  const bob = await link(url, { email: 'bob@example.com' });
  const bytes = jpeg();
  const first = ((await (await batchCreate(url, alice.access_token, items([await uploadToken(url, alice.access_token, bytes), 'first.jpg']))).json()) as any)
    .newMediaItemResults[0];
  const second = ((await (await batchCreate(url, alice.access_token, items([await uploadToken(url, alice.access_token, bytes), 'second.jpg']))).json()) as any)
    .newMediaItemResults[0];
  assert.equal(second.mediaItem.id, first.mediaItem.id);
  assert.equal(second.mediaItem.filename, 'first.jpg');
  assert.equal((await libraryItems(url, 'alice@example.com')).length, 1);

  const other = ((await (await batchCreate(url, bob.access_token, items([await uploadToken(url, bob.access_token, bytes), 'x.jpg']))).json()) as any)
    .newMediaItemResults[0];
  assert.notEqual(other.mediaItem.id, first.mediaItem.id);
});

test('duplicateItem=alreadyExists answers code 6 without a mediaItem (and 207 when configured)', async (t) => {
  const { url } = await emulator(t, { duplicateItem: 'alreadyExists', partialFailureStatus: 207 });
  const { access_token } = await link(url);
  const bytes = jpeg();
  await batchCreate(url, access_token, items([await uploadToken(url, access_token, bytes), 'a.jpg']));
  const res = await batchCreate(url, access_token, items([await uploadToken(url, access_token, bytes), 'b.jpg']));
  assert.equal(res.status, 207);
  const [r] = ((await res.json()) as any).newMediaItemResults;
  assert.equal(r.status.code, 6);
  assert.equal(r.mediaItem, undefined);
});

test('batchCreate limits: at most 50 items, at least one', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  const token = await uploadToken(url, access_token, jpeg());
  const many = (n: number) => ({ newMediaItems: Array.from({ length: n }, () => ({ simpleMediaItem: { uploadToken: token, fileName: 'a.jpg' } })) });

  const tooMany = await batchCreate(url, access_token, many(51));
  assert.equal(tooMany.status, 400);
  assert.deepEqual(await tooMany.json(), { error: { code: 400, message: 'Request must have less than 50 items.', status: 'INVALID_ARGUMENT' } });
  assert.equal((await libraryItems(url, 'user1@example.com')).length, 0);

  const fifty = await batchCreate(url, access_token, many(50));
  assert.equal(fifty.status, 200);
  assert.equal(((await fifty.json()) as any).newMediaItemResults.length, 50);

  assert.equal((await batchCreate(url, access_token, { newMediaItems: [] })).status, 400);
  assert.equal((await batchCreate(url, access_token, {})).status, 400);
  assert.equal((await batchCreate(url, access_token, { newMediaItems: [{ simpleMediaItem: { uploadToken: token } }], bogus: 1 })).status, 400);
});

test('raw upload: each missing or wrong header is a 400, empty body too', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  const bytes = jpeg();
  const variants: [string, Record<string, string | undefined>][] = [
    ['no content-type', { 'content-type': undefined }],
    ['wrong content-type', { 'content-type': 'image/jpeg' }],
    ['no protocol', { 'x-goog-upload-protocol': undefined }],
    ['unknown protocol', { 'x-goog-upload-protocol': 'multipart' }],
    ['no upload content type', { 'x-goog-upload-content-type': undefined }],
    ['malformed upload content type', { 'x-goog-upload-content-type': 'jpeg' }],
    ['no file name', { 'x-goog-upload-file-name': undefined }],
  ];
  for (const [name, change] of variants) {
    const headers = Object.fromEntries(Object.entries({ ...rawUploadHeaders(access_token), ...change }).filter(([, v]) => v !== undefined)) as Record<string, string>;
    const res = await fetch(`${url}/v1/uploads`, { method: 'POST', headers, body: bytesBody(bytes) });
    assert.equal(res.status, 400, name);
    assert.equal(((await res.json()) as any).error.status, 'INVALID_ARGUMENT', name);
  }
  assert.equal((await uploadRaw(url, access_token, Buffer.alloc(0))).status, 400);
});

test('uploadErrorFormat=bare answers upload errors as {code, message}', async (t) => {
  const { url } = await emulator(t, { uploadErrorFormat: 'bare' });
  const { access_token } = await link(url);
  const res = await uploadRaw(url, access_token, Buffer.alloc(0));
  assert.equal(res.status, 400);
  const body = (await res.json()) as any;
  assert.equal(body.code, 3);
  assert.equal(typeof body.message, 'string');
});

test('auth: no token / bad token 401 UNAUTHENTICATED, wrong scope 403 PERMISSION_DENIED', async (t) => {
  const { url } = await emulator(t);
  const noAuth = await fetch(`${url}/v1/mediaItems`);
  assert.equal(noAuth.status, 401);
  assert.match(noAuth.headers.get('www-authenticate')!, /Bearer/);
  const bad = await fetch(`${url}/v1/mediaItems`, { headers: { authorization: 'Bearer ya29.nope' } });
  assert.equal(bad.status, 401);
  const badBody = (await bad.json()) as any;
  assert.equal(badBody.error.code, 401);
  assert.equal(badBody.error.status, 'UNAUTHENTICATED');
  assert.match(badBody.error.message, /^Request had invalid authentication credentials/);

  const readOnly = await link(url, { scope: `openid email ${SCOPES.read}` });
  const upload = await uploadRaw(url, readOnly.access_token, jpeg());
  assert.equal(upload.status, 403);
  assert.deepEqual(await upload.json(), { error: { code: 403, message: 'Request had insufficient authentication scopes.', status: 'PERMISSION_DENIED' } });
  const album = await fetch(`${url}/v1/albums`, {
    method: 'POST',
    headers: { authorization: `Bearer ${readOnly.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ album: { title: 'x' } }),
  });
  assert.equal(album.status, 403);

  const appendOnly = await link(url, { scope: SCOPES.append });
  assert.equal((await fetch(`${url}/v1/mediaItems`, { headers: { authorization: `Bearer ${appendOnly.access_token}` } })).status, 403);
  assert.equal((await uploadRaw(url, appendOnly.access_token, jpeg())).status, 200);
});

test('unsupported bytes: per-item code 3 at batchCreate by default, 400 at upload when configured', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  const token = await uploadToken(url, access_token, unsupported(), 'notes.jpg');
  const good = await uploadToken(url, access_token, mp4(), 'clip.mp4');
  const res = await batchCreate(url, access_token, items([token, 'notes.jpg'], [good, 'clip.mp4']));
  assert.equal(res.status, 200);
  const [bad, ok] = ((await res.json()) as any).newMediaItemResults;
  assert.equal(bad.status.code, 3);
  assert.equal(bad.mediaItem, undefined);
  assert.equal(ok.mediaItem.mimeType, 'video/mp4');
  assert.ok(ok.mediaItem.mediaMetadata.video);

  await configure(url, { unsupportedAt: 'upload' });
  const rejected = await uploadRaw(url, access_token, unsupported());
  assert.equal(rejected.status, 400);
});

test('invalid upload tokens: whole request 400 by default, per-item code 3 when configured; expire after a day', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  const good = await uploadToken(url, access_token, jpeg());
  const whole = await batchCreate(url, access_token, items([good, 'a.jpg'], ['bogus', 'b.jpg']));
  assert.equal(whole.status, 400);
  assert.equal(((await whole.json()) as any).error.message, 'Request must contain a valid upload token.');
  assert.equal((await libraryItems(url, 'user1@example.com')).length, 0, 'nothing created when the request is rejected');

  await configure(url, { invalidUploadToken: 'item' });
  const perItem = await batchCreate(url, access_token, items([good, 'a.jpg'], ['bogus', 'b.jpg']));
  assert.equal(perItem.status, 200);
  const [ok, bad] = ((await perItem.json()) as any).newMediaItemResults;
  assert.ok(ok.mediaItem);
  assert.deepEqual(bad.status, { code: 3, message: 'Request must contain a valid upload token.' });

  const fresh = await uploadToken(url, access_token, jpeg());
  await control(url, 'POST', 'clock', { advanceMs: 24 * 3600 * 1000 });
  const { access_token: later } = await link(url);
  const expired = ((await (await batchCreate(url, later, items([fresh, 'c.jpg']))).json()) as any).newMediaItemResults[0];
  assert.equal(expired.status.code, 3);
});

test('upload tokens are bound to the account; reuse is configurable', async (t) => {
  const { url } = await emulator(t, { invalidUploadToken: 'item' });
  const alice = await link(url, { email: 'alice@example.com' });
  const bob = await link(url, { email: 'bob@example.com' });
  const token = await uploadToken(url, alice.access_token, jpeg());
  const stolen = ((await (await batchCreate(url, bob.access_token, items([token, 'a.jpg']))).json()) as any).newMediaItemResults[0];
  assert.equal(stolen.status.code, 3);

  const first = ((await (await batchCreate(url, alice.access_token, items([token, 'a.jpg']))).json()) as any).newMediaItemResults[0];
  const again = ((await (await batchCreate(url, alice.access_token, items([token, 'a.jpg']))).json()) as any).newMediaItemResults[0];
  assert.equal(again.mediaItem.id, first.mediaItem.id, 'reusable by default');

  await configure(url, { uploadTokenReuse: false });
  const single = await uploadToken(url, alice.access_token, jpeg());
  await batchCreate(url, alice.access_token, items([single, 'b.jpg']));
  const reused = ((await (await batchCreate(url, alice.access_token, items([single, 'b.jpg']))).json()) as any).newMediaItemResults[0];
  assert.equal(reused.status.code, 3);
});

test('albums: create, list, add items at batchCreate; foreign or unknown albumId is a 400', async (t) => {
  const { url } = await emulator(t);
  const alice = await link(url, { email: 'alice@example.com' });
  const bob = await link(url, { email: 'bob@example.com' });
  const post = (token: string, body: unknown) =>
    fetch(`${url}/v1/albums`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const created = await post(alice.access_token, { album: { title: 'Phone backup' } });
  assert.equal(created.status, 200);
  const album = (await created.json()) as any;
  assert.equal(album.title, 'Phone backup');
  assert.equal(album.isWriteable, true);
  assert.equal(album.mediaItemsCount, '0');
  assert.equal((await post(alice.access_token, { album: {} })).status, 400);
  assert.equal((await post(alice.access_token, { album: { title: 'x'.repeat(501) } })).status, 400);

  const token = await uploadToken(url, alice.access_token, jpeg());
  const res = await batchCreate(url, alice.access_token, { albumId: album.id, ...items([token, 'a.jpg']) });
  assert.equal(res.status, 200);
  const listed = (await (await fetch(`${url}/v1/albums`, { headers: { authorization: `Bearer ${alice.access_token}` } })).json()) as any;
  assert.equal(listed.albums[0].mediaItemsCount, '1');
  const search = await fetch(`${url}/v1/mediaItems:search`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice.access_token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ albumId: album.id }),
  });
  assert.equal(((await search.json()) as any).mediaItems.length, 1);

  const bobToken = await uploadToken(url, bob.access_token, jpeg());
  assert.equal((await batchCreate(url, bob.access_token, { albumId: album.id, ...items([bobToken, 'b.jpg']) })).status, 400);
  assert.equal((await batchCreate(url, alice.access_token, { albumId: 'nope', ...items([token, 'a.jpg']) })).status, 400);
  assert.deepEqual(await (await fetch(`${url}/v1/albums`, { headers: { authorization: `Bearer ${bob.access_token}` } })).json(), {});
});

test('paging through mediaItems', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  const tokens = await Promise.all(Array.from({ length: 5 }, () => uploadToken(url, access_token, jpeg())));
  await batchCreate(url, access_token, items(...tokens.map((tk, i) => [tk, `${i}.jpg`] as [string, string])));
  const get = (q: string) => fetch(`${url}/v1/mediaItems?${q}`, { headers: { authorization: `Bearer ${access_token}` } });
  const page1 = (await (await get('pageSize=3')).json()) as any;
  assert.equal(page1.mediaItems.length, 3);
  const page2 = (await (await get(`pageSize=3&pageToken=${page1.nextPageToken}`)).json()) as any;
  assert.equal(page2.mediaItems.length, 2);
  assert.equal(page2.nextPageToken, undefined);
  assert.equal((await get('pageSize=101')).status, 400);
});

test('oversized uploads are rejected by kind (photo limit checked at resumable start)', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  const res = await fetch(`${url}/v1/uploads`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${access_token}`,
      'content-length': '0',
      'x-goog-upload-command': 'start',
      'x-goog-upload-protocol': 'resumable',
      'x-goog-upload-content-type': 'image/jpeg',
      'x-goog-upload-file-name': 'huge.jpg',
      'x-goog-upload-raw-size': String(200 * 1000 * 1000 + 1),
    },
  });
  assert.equal(res.status, 400);
});

test('malformed JSON and unknown paths answer in Google error envelopes', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  const bad = await fetch(`${url}/v1/mediaItems:batchCreate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
    body: '{"newMediaItems": [',
  });
  assert.equal(bad.status, 400);
  assert.equal(((await bad.json()) as any).error.status, 'INVALID_ARGUMENT');
  const unauthenticatedFirst = await fetch(`${url}/v1/mediaItems:batchCreate`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
  assert.equal(unauthenticatedFirst.status, 401, 'authentication is checked before the body');
  const missing = await fetch(`${url}/v1/nothing`);
  assert.equal(missing.status, 404);
  assert.equal(((await missing.json()) as any).error.status, 'NOT_FOUND');
});
