import assert from 'node:assert/strict';
import { utimes } from 'node:fs/promises';
import path from 'node:path';
import { startSweeper } from '../src/ingest/sweeper.ts';
import { after, before, describe, it } from 'node:test';
import { Client } from './helpers/client.ts';
import { ADMIN_TOKEN, listFiles, residue, startRelay, type Residue, type TestRelay } from './helpers/harness.ts';
import { jpeg, mp4, notMedia, sha256 } from './helpers/media.ts';
import { ncClient, request, type NcResponse } from './helpers/nextcloud.ts';

/**
 * Hostile and broken requests at the Nextcloud door: traversal in user, file and chunk paths, another device's
 * paths, chunks beyond the declared length or MAX_UPLOAD_BYTES, MOVE of incomplete uploads, checksum mismatches.
 * Each is a clear error that leaves no asset and no file behind, and a valid token never gets 401 or 403.
 */

const LIMIT = 2 * 1024 * 1024;
let relay: TestRelay;
let admin: Client;
let mine: { deviceId: string; token: string };
let other: { deviceId: string; token: string };
let nc: ReturnType<typeof ncClient>;
let files: string;
let uploads: string;

before(async () => {
  relay = await startRelay({ MAX_UPLOAD_BYTES: String(LIMIT) });
  admin = new Client(relay.url, ADMIN_TOKEN);
  const accountId = await admin.createAccount('Hostile');
  const create = async (name: string) =>
    (await admin.call('POST', `/api/v1/admin/accounts/${accountId}/devices`, { name, platform: 'nextcloud' })).body;
  mine = await create('Mine');
  other = await create('Other');
  nc = ncClient(relay.url, 'mine', mine.token);
  files = `/remote.php/dav/files/${mine.deviceId}`;
  uploads = `/remote.php/dav/uploads/${mine.deviceId}`;
});
after(async () => {
  await relay?.close();
});

const chunkFiles = () => listFiles(path.join(relay.config.spoolDir, 'nextcloud-uploads'));

/** A valid token is never answered 401 or 403 (the iOS app would delete the account). */
function refused(res: NcResponse, status: number, code?: string): void {
  assert.notEqual(res.status, 401);
  assert.notEqual(res.status, 403);
  assert.equal(res.status, status, res.text);
  if (code) assert.equal(res.json?.code, code, res.text);
}

async function unchanged(before: Residue): Promise<void> {
  const now = await residue(relay);
  assert.deepEqual(now.rows, before.rows);
  assert.deepEqual(now.tempFiles, []);
  assert.deepEqual(now.blobFiles.sort(), before.blobFiles.sort());
}

describe('paths', () => {
  it('traversal in the user, file, upload id and chunk segments is refused', async () => {
    const before = await residue(relay);
    for (const url of [`${files}/../x.jpg`, `${files}/%2e%2e/x.jpg`, `${files}/a/%2E%2E/%2e%2e/x.jpg`, `${files}/a%2fb.jpg`]) {
      refused(await nc('PUT', url, {}, jpeg()), 400, 'validation_failed');
    }
    for (const url of [`/remote.php/dav/files/../../etc/passwd`, `/remote.php/dav/files/%2e%2e/x.jpg`]) {
      const res = await nc('PUT', url, {}, jpeg());
      assert.ok(res.status === 400 || res.status === 404, `${url}: ${res.status}`);
    }
    refused(await nc('MKCOL', `${uploads}/..`), 400);
    refused(await nc('MKCOL', `${uploads}/%2e%2e`), 400);
    refused(await nc('MKCOL', `${uploads}/.hidden`), 400);
    refused(await nc('MKCOL', `${uploads}/abc`), 201);
    for (const chunk of ['..', '%2e%2e', '%2e%2e%2f%2e%2e%2fx', 'abc', '-1', '1.5']) {
      refused(await nc('PUT', `${uploads}/abc/${chunk}`, {}, jpeg()), 400);
    }
    refused(await nc('DELETE', `${uploads}/abc`), 204);
    await unchanged(before);
    assert.deepEqual(await chunkFiles(), []);
  });

  it("another device's user path is not found, for files and upload folders", async () => {
    const before = await residue(relay);
    refused(await nc('PROPFIND', `/remote.php/dav/files/${other.deviceId}/`, { depth: '1' }), 404);
    refused(await nc('PUT', `/remote.php/dav/files/${other.deviceId}/x.jpg`, {}, jpeg()), 404);
    refused(await nc('MKCOL', `/remote.php/dav/uploads/${other.deviceId}/u1`), 404);
    // The other device's own upload folder stays out of reach even when it exists.
    const theirs = ncClient(relay.url, 'other', other.token);
    refused(await theirs('MKCOL', `/remote.php/dav/uploads/${other.deviceId}/u2`), 201);
    refused(await nc('PROPFIND', `/remote.php/dav/uploads/${other.deviceId}/u2`, { depth: '1' }), 404);
    refused(await nc('PROPFIND', `${uploads}/u2`, { depth: '1' }), 404);
    refused(await theirs('DELETE', `/remote.php/dav/uploads/${other.deviceId}/u2`), 204);
    // A MOVE into the other device's files.
    refused(await nc('MKCOL', `${uploads}/u3`), 201);
    refused(await nc('PUT', `${uploads}/u3/1`, {}, jpeg()), 201);
    refused(await nc('MOVE', `${uploads}/u3/.file`, { destination: `/remote.php/dav/files/${other.deviceId}/x.jpg` }), 404);
    refused(await nc('DELETE', `${uploads}/u3`), 204);
    await unchanged(before);
  });
});

describe('chunked upload limits', () => {
  it('chunks beyond OC-Total-Length are refused (413) and not kept', async () => {
    const before = await residue(relay);
    refused(await nc('MKCOL', `${uploads}/t1`, { 'oc-total-length': '3000' }), 201);
    refused(await nc('PUT', `${uploads}/t1/1`, {}, jpeg(2000)), 201);
    refused(await nc('PUT', `${uploads}/t1/2`, {}, jpeg(2000)), 413, 'payload_too_large');
    const listed = await nc('PROPFIND', `${uploads}/t1`, { depth: '1' });
    assert.doesNotMatch(listed.text, /t1\/2</);
    refused(await nc('DELETE', `${uploads}/t1`), 204);
    await unchanged(before);
    assert.deepEqual(await chunkFiles(), []);
  });

  it('chunks beyond MAX_UPLOAD_BYTES are refused (413), as is an upload declared larger', async () => {
    const before = await residue(relay);
    refused(await nc('MKCOL', `${uploads}/big`, { 'oc-total-length': String(LIMIT + 1) }), 413, 'payload_too_large');
    refused(await nc('MKCOL', `${uploads}/big`), 201);
    refused(await nc('PUT', `${uploads}/big/1`, {}, mp4(LIMIT - 1000)), 201);
    refused(await nc('PUT', `${uploads}/big/2`, {}, mp4(2000)), 413, 'payload_too_large');
    // Without a Content-Length (chunked transfer encoding), the limit holds while streaming.
    const streamed = await request(
      relay.url,
      'PUT',
      `${uploads}/big/3`,
      { authorization: `Basic ${Buffer.from(`m:${mine.token}`).toString('base64')}`, 'transfer-encoding': 'chunked' },
      mp4(5000),
    );
    refused(streamed, 413);
    refused(await nc('DELETE', `${uploads}/big`), 204);
    await unchanged(before);
    assert.deepEqual(await chunkFiles(), []);
  });

  it('MOVE of an incomplete upload is refused, no asset; the chunks stay for the client to finish', async () => {
    const before = await residue(relay);
    const video = mp4(30_000);
    refused(await nc('MKCOL', `${uploads}/inc`, { 'oc-total-length': String(video.length) }), 201);
    refused(await nc('PUT', `${uploads}/inc/1`, {}, video.subarray(0, 10_000)), 201);
    refused(await nc('MOVE', `${uploads}/inc/.file`, { destination: `${files}/inc.mp4` }), 400, 'validation_failed');
    await unchanged(before);
    refused(await nc('PROPFIND', `${files}/inc.mp4`, { depth: '0' }), 404);
    refused(await nc('PUT', `${uploads}/inc/2`, {}, video.subarray(10_000)), 201);
    const done = await nc('MOVE', `${uploads}/inc/.file`, { destination: `${files}/inc.mp4` });
    refused(done, 201);
    assert.equal(done.headers.etag, `"${sha256(video)}"`);
    assert.deepEqual(await chunkFiles(), []);
  });

  it('MOVE of an empty upload folder, or of something other than .file, is refused', async () => {
    refused(await nc('MKCOL', `${uploads}/e`), 201);
    refused(await nc('MOVE', `${uploads}/e/.file`, { destination: `${files}/e.mp4` }), 400);
    refused(await nc('MOVE', `${uploads}/e/1`, { destination: `${files}/e.mp4` }), 405);
    refused(await nc('DELETE', `${uploads}/e`), 204);
  });
});

describe('abandoned upload folders', () => {
  it('expire after a day untouched and are swept; younger ones stay', async () => {
    refused(await nc('MKCOL', `${uploads}/old`), 201);
    refused(await nc('PUT', `${uploads}/old/1`, {}, jpeg(1000)), 201);
    refused(await nc('MKCOL', `${uploads}/young`), 201);
    const dir = path.join(relay.config.spoolDir, 'nextcloud-uploads', mine.deviceId);
    const dayAgo = new Date(Date.now() - 25 * 3600_000);
    await utimes(path.join(dir, 'old'), dayAgo, dayAgo);
    const stop = await startSweeper(relay.services);
    stop();
    refused(await nc('PROPFIND', `${uploads}/old`, { depth: '0' }), 404);
    refused(await nc('PROPFIND', `${uploads}/young`, { depth: '0' }), 207);
    refused(await nc('DELETE', `${uploads}/young`), 204);
    assert.deepEqual(await chunkFiles(), []);
  });
});

describe('content', () => {
  it('a checksum mismatch on PUT is 422 and stores nothing', async () => {
    const before = await residue(relay);
    refused(await nc('PUT', `${files}/bad.jpg`, { 'oc-checksum': `SHA256:${sha256(Buffer.from('other'))}` }, jpeg()), 422, 'hash_mismatch');
    refused(await nc('HEAD', `${files}/bad.jpg`), 404);
    await unchanged(before);
  });

  it('a checksum mismatch on the assembling MOVE is 422: no asset, no upload folder, no temp file', async () => {
    const before = await residue(relay);
    refused(await nc('MKCOL', `${uploads}/sum`), 201);
    refused(await nc('PUT', `${uploads}/sum/1`, {}, jpeg(3000)), 201);
    refused(
      await nc('MOVE', `${uploads}/sum/.file`, { destination: `${files}/sum.jpg`, 'oc-checksum': `SHA256:${'0'.repeat(64)}` }),
      422,
      'hash_mismatch',
    );
    await unchanged(before);
    refused(await nc('PROPFIND', `${uploads}/sum`, { depth: '0' }), 404);
    assert.deepEqual(await chunkFiles(), []);
  });

  it('chunks that are not media are refused at the MOVE (415), with nothing left', async () => {
    const before = await residue(relay);
    refused(await nc('MKCOL', `${uploads}/pdf`), 201);
    refused(await nc('PUT', `${uploads}/pdf/1`, {}, notMedia(5000)), 201);
    refused(await nc('MOVE', `${uploads}/pdf/.file`, { destination: `${files}/doc.jpg` }), 415, 'unsupported_media_type');
    await unchanged(before);
    assert.deepEqual(await chunkFiles(), []);
  });
});

describe('a valid token is never 401 or 403', () => {
  it('refusals WebDAV answers with 403 elsewhere are 409 here', async () => {
    refused(await nc('DELETE', `${files}/`), 409);
    refused(await nc('MKCOL', `${files}/a`), 201);
    refused(await nc('MOVE', `${files}/a`, { destination: `${files}/a/b` }), 409);
  });

  it('wrong or revoked tokens are 401 with a challenge', async () => {
    const wrong = await ncClient(relay.url, 'x', 'prd_nope')('PROPFIND', `${files}/`, { depth: '0' });
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers['www-authenticate']), /^Basic/);
  });
});

describe('Login Flow v2 abuse', () => {
  it('starting flows is held to a human pace (429), and a poll with an unknown token is 404', async () => {
    refused(
      await request(relay.url, 'POST', '/index.php/login/v2/poll', { 'content-type': 'application/x-www-form-urlencoded' }, 'token=nope'),
      404,
    );
    const statuses: number[] = [];
    for (let i = 0; i < 32; i++) statuses.push((await request(relay.url, 'POST', '/index.php/login/v2')).status);
    assert.deepEqual(statuses.slice(0, 30), Array(30).fill(200));
    assert.equal(statuses[31], 429);
  });
});
