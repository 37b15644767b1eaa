import assert from 'node:assert/strict';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { batchCreate, bytesBody, control, emulator, faults, items, libraryItems, link, stats } from './helpers.ts';
import { jpeg, sha256 } from './media.ts';

const G = 1024; // small granularity keeps the files tiny

async function start(base: string, token: string, rawSize: number): Promise<Response> {
  return fetch(`${base}/v1/uploads`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-length': '0',
      'x-goog-upload-command': 'start',
      'x-goog-upload-protocol': 'resumable',
      'x-goog-upload-content-type': 'image/jpeg',
      'x-goog-upload-file-name': 'IMG_big.jpg',
      'x-goog-upload-raw-size': String(rawSize),
    },
  });
}

async function session(base: string, token: string, rawSize: number): Promise<string> {
  const res = await start(base, token, rawSize);
  assert.equal(res.status, 200);
  return res.headers.get('x-goog-upload-url')!;
}

const send = (sessionUrl: string, command: string, offset: number, body: Buffer, auth?: string) =>
  fetch(sessionUrl, {
    method: 'POST',
    headers: { 'x-goog-upload-command': command, 'x-goog-upload-offset': String(offset), ...(auth ? { authorization: auth } : {}) },
    body: bytesBody(body),
  });

async function query(sessionUrl: string): Promise<{ status: string; size: number; http: number }> {
  const res = await fetch(sessionUrl, { method: 'POST', headers: { 'x-goog-upload-command': 'query' } });
  return { http: res.status, status: res.headers.get('x-goog-upload-status')!, size: Number(res.headers.get('x-goog-upload-size-received')) };
}

test('start, chunk, query, finalize; the token creates an item with the whole file', async (t) => {
  const { url } = await emulator(t, { chunkGranularity: G });
  const { access_token } = await link(url);
  const file = jpeg(3000);
  const res = await start(url, access_token, file.length);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-goog-upload-status'), 'active');
  assert.equal(res.headers.get('x-goog-upload-chunk-granularity'), String(G));
  const sessionUrl = res.headers.get('x-goog-upload-url')!;
  assert.ok(sessionUrl.startsWith(`${url}/v1/uploads?upload_id=`));

  const first = await send(sessionUrl, 'upload', 0, file.subarray(0, 2 * G));
  assert.equal(first.status, 200);
  assert.deepEqual(await query(sessionUrl), { http: 200, status: 'active', size: 2 * G });

  const last = await send(sessionUrl, 'upload, finalize', 2 * G, file.subarray(2 * G));
  assert.equal(last.status, 200);
  assert.equal(last.headers.get('x-goog-upload-status'), 'final');
  const uploadToken = await last.text();
  assert.equal((await query(sessionUrl)).status, 'final');

  const created = await batchCreate(url, access_token, items([uploadToken, 'IMG_big.jpg']));
  assert.equal(created.status, 200);
  const [item] = await libraryItems(url, 'user1@example.com');
  assert.equal(item.sha256, sha256(file));
  assert.equal(item.size, file.length);
  const s = await stats(url);
  assert.deepEqual(s.resumable, { sessions: 1, chunks: 2, queries: 2 });
  assert.equal(s.bytesReceived, file.length);
});

test('Google granularity is the default', async (t) => {
  const { url } = await emulator(t);
  const { access_token } = await link(url);
  assert.equal((await start(url, access_token, 10)).headers.get('x-goog-upload-chunk-granularity'), '262144');
});

test('enforced: offset, granularity of non-final chunks, raw size at finalize; rejected chunks persist nothing', async (t) => {
  const { url } = await emulator(t, { chunkGranularity: G });
  const { access_token } = await link(url);
  const file = jpeg(3000);
  const s = await session(url, access_token, file.length);

  assert.equal((await send(s, 'upload', 0, file.subarray(0, 1000))).status, 400, 'not a multiple of the granularity');
  assert.equal((await send(s, 'upload', 5, file.subarray(0, G))).status, 400, 'wrong offset');
  assert.equal((await send(s, 'upload, finalize', 0, file.subarray(0, 2 * G))).status, 400, 'finalize short of raw size');
  assert.equal((await send(s, 'upload', 0, Buffer.concat([file, Buffer.alloc(2 * G)]).subarray(0, 4 * G))).status, 400, 'past raw size');
  assert.equal((await send(s, 'bogus', 0, file.subarray(0, G))).status, 400, 'unknown command');
  const noOffset = await fetch(s, { method: 'POST', headers: { 'x-goog-upload-command': 'upload' }, body: bytesBody(file.subarray(0, G)) });
  assert.equal(noOffset.status, 400);

  // Without Content-Length the size is only known at the end: the chunk must be rolled back.
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = request(s, { method: 'POST', headers: { 'x-goog-upload-command': 'upload', 'x-goog-upload-offset': '0' } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.write(file.subarray(0, G));
    req.end(file.subarray(G, G + 100));
  });
  assert.equal(chunked, 400);
  assert.deepEqual(await query(s), { http: 200, status: 'active', size: 0 });

  assert.equal((await send(s, 'upload, finalize', 0, file)).status, 200);
});

/** Sends part of a chunk over a raw socket, waits until the emulator has seen it, then cuts the connection. */
async function cutMidChunk(base: string, sessionUrl: string, declared: number, sent: Buffer): Promise<void> {
  const before = (await stats(base)).bytesReceived;
  const req = request(sessionUrl, {
    method: 'POST',
    headers: { 'content-length': String(declared), 'x-goog-upload-command': 'upload', 'x-goog-upload-offset': '0' },
  });
  req.on('error', () => {});
  req.write(sent);
  for (let i = 0; i < 200 && (await stats(base)).bytesReceived < before + sent.length; i++) await sleep(5);
  req.destroy();
}

async function waitForSize(sessionUrl: string, expected: number): Promise<number> {
  let size = -1;
  for (let i = 0; i < 200 && size !== expected; i++) {
    size = (await query(sessionUrl)).size;
    if (size !== expected) await sleep(5);
  }
  return size;
}

test('client cuts mid-chunk: query reports the persisted whole granules, and the client resumes from there', async (t) => {
  const { url } = await emulator(t, { chunkGranularity: G });
  const { access_token } = await link(url);
  const file = jpeg(5000);
  const s = await session(url, access_token, file.length);
  await cutMidChunk(url, s, 4 * G, file.subarray(0, 2500));
  assert.equal(await waitForSize(s, 2 * G), 2 * G);

  const resumed = await send(s, 'upload, finalize', 2 * G, file.subarray(2 * G));
  assert.equal(resumed.status, 200);
  await batchCreate(url, access_token, items([await resumed.text(), 'a.jpg']));
  assert.equal((await libraryItems(url, 'user1@example.com'))[0].sha256, sha256(file));
  assert.equal((await stats(url)).requests.uploadChunk.aborted, 1);
});

test('partialChunk=all persists every byte received before the cut', async (t) => {
  const { url } = await emulator(t, { chunkGranularity: G, partialChunk: 'all' });
  const { access_token } = await link(url);
  const file = jpeg(5000);
  const s = await session(url, access_token, file.length);
  await cutMidChunk(url, s, 4 * G, file.subarray(0, 2500));
  assert.equal(await waitForSize(s, 2500), 2500);
  const resumed = await send(s, 'upload, finalize', 2500, file.subarray(2500));
  assert.equal(resumed.status, 200);
  await batchCreate(url, access_token, items([await resumed.text(), 'a.jpg']));
  assert.equal((await libraryItems(url, 'user1@example.com'))[0].sha256, sha256(file));
});

test('drop fault on uploadChunk after N bytes: the same resume path, deterministic', async (t) => {
  const { url } = await emulator(t, { chunkGranularity: G });
  const { access_token } = await link(url);
  const file = jpeg(5000);
  const s = await session(url, access_token, file.length);
  await faults(url, [{ endpoint: 'uploadChunk', fault: { kind: 'drop', afterBytes: 3 * G + 10 } }]);
  await assert.rejects(send(s, 'upload, finalize', 0, file));
  assert.deepEqual(await query(s), { http: 200, status: 'active', size: 3 * G });
  const resumed = await send(s, 'upload, finalize', 3 * G, file.subarray(3 * G));
  assert.equal(resumed.status, 200);
  assert.equal((await stats(url)).requests.uploadChunk.dropped, 1);
});

test('sessions expire after an hour of emulator time: query says cancelled, uploads get 404', async (t) => {
  const { url } = await emulator(t, { chunkGranularity: G });
  const { access_token } = await link(url);
  const file = jpeg(3000);
  const s = await session(url, access_token, file.length);
  assert.equal((await send(s, 'upload', 0, file.subarray(0, G))).status, 200);
  await control(url, 'POST', 'clock', { advanceMs: 3600 * 1000 });
  assert.deepEqual(await query(s), { http: 200, status: 'cancelled', size: G });
  const late = await send(s, 'upload, finalize', G, file.subarray(G));
  assert.equal(late.status, 404);
  assert.equal(late.headers.get('x-goog-upload-status'), 'cancelled');
  assert.equal((await query(`${url}/v1/uploads?upload_id=unknown&upload_protocol=resumable`)).http, 404);
});

test('a finalized session takes no more bytes; start must have an empty body and the doc headers', async (t) => {
  const { url } = await emulator(t, { chunkGranularity: G });
  const { access_token } = await link(url);
  const file = jpeg(100);
  const s = await session(url, access_token, file.length);
  assert.equal((await send(s, 'upload, finalize', 0, file)).status, 200);
  assert.equal((await send(s, 'upload, finalize', 0, file)).status, 404);

  const withBody = await fetch(`${url}/v1/uploads`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${access_token}`,
      'x-goog-upload-command': 'start',
      'x-goog-upload-protocol': 'resumable',
      'x-goog-upload-content-type': 'image/jpeg',
      'x-goog-upload-file-name': 'a.jpg',
      'x-goog-upload-raw-size': '100',
    },
    body: bytesBody(file),
  });
  assert.equal(withBody.status, 400);
  const noRawSize = await fetch(`${url}/v1/uploads`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${access_token}`,
      'content-length': '0',
      'x-goog-upload-command': 'start',
      'x-goog-upload-protocol': 'resumable',
      'x-goog-upload-content-type': 'image/jpeg',
      'x-goog-upload-file-name': 'a.jpg',
    },
  });
  assert.equal(noRawSize.status, 400);
});

test('the session URL is the credential; a bearer token, if sent, must be valid', async (t) => {
  const { url } = await emulator(t, { chunkGranularity: G });
  const { access_token } = await link(url);
  const file = jpeg(100);
  const s = await session(url, access_token, file.length);
  assert.equal((await send(s, 'upload, finalize', 0, file, 'Bearer ya29.bogus')).status, 401);
  assert.equal((await send(s, 'upload, finalize', 0, file, `Bearer ${access_token}`)).status, 200);
});

test('a stalled chunk: query reports the granules already persisted, and a newer upload supersedes the stalled one', async (t) => {
  const { url } = await emulator(t, { chunkGranularity: G });
  const { access_token } = await link(url);
  const file = jpeg(5000);
  const s = await session(url, access_token, file.length);
  const stalled = request(s, {
    method: 'POST',
    headers: { 'content-length': String(4 * G), 'x-goog-upload-command': 'upload', 'x-goog-upload-offset': '0' },
  });
  stalled.on('error', () => {});
  stalled.write(file.subarray(0, 2500)); // then never finishes: a connection the client silently lost
  assert.equal(await waitForSize(s, 2 * G), 2 * G);

  const resumed = await send(s, 'upload, finalize', 2 * G, file.subarray(2 * G));
  assert.equal(resumed.status, 200);
  await batchCreate(url, access_token, items([await resumed.text(), 'a.jpg']));
  assert.equal((await libraryItems(url, 'user1@example.com'))[0].sha256, sha256(file));
  stalled.destroy();
});
