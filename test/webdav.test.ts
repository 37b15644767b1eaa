import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { applyRetention } from '../src/forwarding/retention.ts';
import type { Client } from './helpers/client.ts';
import { jpeg, mp4, png, sha256 } from './helpers/media.ts';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { waitDeliveriesBackedUp } from './helpers/forwarding.ts';
import { basic, request, type ExactResponse } from './helpers/exact-http.ts';

/**
 * The WebDAV door end to end: a real third-party client (rclone's WebDAV backend) backing up folders, the
 * temporary-name-then-MOVE pattern of phone apps, cut and retried uploads, DELETE, and what each leaves in the
 * ledger and in (the emulator's) Google Photos.
 */

const EMAIL = 'alice@example.com';
let rig: Rig;
let accountId: string;
let phone1: Client & { deviceId: string };
let phone2: Client & { deviceId: string };
let work: string;

before(async () => {
  rig = await startRig();
  accountId = await rig.admin.createAccount('Alice');
  await rig.link(accountId, EMAIL);
  phone1 = await rig.admin.pairDevice(accountId, 'Pixel 8');
  phone2 = await rig.admin.pairDevice(accountId, 'Old iPhone');
  work = await mkdtemp(path.join(tmpdir(), 'photo-relay-webdav-'));
});
after(async () => {
  await rig?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

// ---- a small WebDAV client over node:http (which, unlike fetch, sends paths exactly as given) ----

type DavResponse = ExactResponse;

function dav(method: string, urlPath: string, token: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<DavResponse> {
  return request(rig.relay.url, method, urlPath, { authorization: basic('phone', token), ...headers }, body);
}

const destination = (p: string) => ({ destination: `${rig.relay.url}${p}` });

/** Start a PUT of `bytes`, declaring its whole length, send `sent` bytes, wait until they reach the spool, then cut. */
async function cutPut(token: string, urlPath: string, bytes: Buffer, sent: number): Promise<void> {
  const { hostname, port } = new URL(rig.relay.url);
  const req = http.request({
    host: hostname,
    port,
    method: 'PUT',
    path: urlPath,
    headers: { authorization: basic('phone', token), 'content-length': bytes.length },
  });
  req.on('error', () => {});
  req.write(bytes.subarray(0, sent));
  await waitFor('the upload to reach the spool', async () => (await readdir(rig.relay.services.blobs.tmpDir)).length > 0, 10_000, 5);
  req.destroy();
}

// ---- ledger probes ----

const db = () => rig.relay.services.db;
const assetsOf = (deviceId: string) => db().asset.findMany({ where: { deviceId }, orderBy: { deviceAssetId: 'asc' } });
const entriesOf = (deviceId: string) => db().davEntry.findMany({ where: { deviceId } });
const bytesReceived = async (deviceId: string) => (await db().device.findUniqueOrThrow({ where: { id: deviceId } })).bytesReceived;

async function library(): Promise<{ sha256: string; filename: string }[]> {
  return (await rig.control('GET', `/emulator/libraries/${encodeURIComponent(EMAIL)}/items`)).items;
}

const allBackedUp = (expected: number) => waitDeliveriesBackedUp(db(), expected, 90_000);

/** No upload in flight left anything behind: no temp file, and the ledger's counts are what they were. */
async function assertNothingNew(before: { blobs: number; assets: number; entries: number; files: number }): Promise<void> {
  const now = await waitFor(
    'temp files to be gone',
    async () => {
      const temps = await readdir(rig.relay.services.blobs.tmpDir);
      return temps.length === 0 ? counts() : null;
    },
    10_000,
    20,
  );
  assert.deepEqual(now, before, 'a broken upload left something behind');
}

async function counts() {
  const blobDir = rig.relay.services.blobs.blobsDir;
  const files = (await readdir(blobDir, { recursive: true, withFileTypes: true }).catch(() => [])).filter((e) => e.isFile()).length;
  const [blobs, assets, entries] = await Promise.all([db().blob.count(), db().asset.count(), db().davEntry.count()]);
  return { blobs, assets, entries, files };
}

// ---- rclone ----

const run = promisify(execFile);

async function rclone(token: string, vendor: string, args: string[]): Promise<string> {
  const config = path.join(work, `rclone-${vendor}-${token.slice(-6)}.conf`);
  const { stdout: obscured } = await run('rclone', ['obscure', token]).catch((err: NodeJS.ErrnoException) => {
    throw new Error(err.code === 'ENOENT' ? 'rclone is not installed: apt-get install -y rclone (.ci/run does this)' : String(err));
  });
  await writeFile(
    config,
    `[relay]\ntype = webdav\nurl = ${rig.relay.url}/dav/\nvendor = ${vendor}\nuser = phone\npass = ${obscured.trim()}\n`,
  );
  try {
    // One try only: a flaky answer must fail the test, not be papered over by rclone's retries.
    const { stdout, stderr } = await run('rclone', [...args, '--config', config, '-v', '--retries', '1', '--low-level-retries', '1'], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`rclone ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

const copiedLines = (out: string) => out.split('\n').filter((l) => /: Copied \(/.test(l));

interface LocalFile {
  rel: string;
  bytes: Buffer;
}

/** A phone's folder: photos and videos of mixed formats, in sub-folders, some names needing URL encoding. */
async function makeFolder(dir: string, files: LocalFile[]): Promise<void> {
  for (const f of files) {
    await mkdir(path.dirname(path.join(dir, f.rel)), { recursive: true });
    await writeFile(path.join(dir, f.rel), f.bytes);
  }
}

function mixedFiles(count: number, prefix: string): LocalFile[] {
  return Array.from({ length: count }, (_, i) => {
    const n = String(i).padStart(4, '0');
    if (i % 10 === 7) return { rel: `DCIM/Camera/${prefix} Été #${n} (1)+&.jpg`, bytes: jpeg(3000 + i * 37) };
    if (i % 3 === 0) return { rel: `DCIM/Camera/${prefix}_IMG_${n}.jpg`, bytes: jpeg(3000 + i * 53) };
    if (i % 3 === 1) return { rel: `Pictures/Screenshots/${prefix}_Screenshot_${n}.png`, bytes: png(3000 + i * 41) };
    return { rel: `DCIM/Camera/${prefix}_VID_${n}.mp4`, bytes: mp4(5000 + i * 61) };
  });
}

describe('rclone (WebDAV backend) as the client', () => {
  const first = mixedFiles(100, 'A');
  const second = [...first.slice(20, 80), ...mixedFiles(20, 'B')];

  it('copies a folder of 100 mixed files: 100 assets, each forwarded once', async () => {
    const dir = path.join(work, 'phone1');
    await makeFolder(dir, first);
    const out = await rclone(phone1.token, 'other', ['copy', dir, 'relay:Backup']);
    assert.equal(copiedLines(out).length, 100, out);

    const assets = await assetsOf(phone1.deviceId);
    assert.equal(assets.length, 100);
    assert.deepEqual(assets.map((a) => a.deviceAssetId).sort(), first.map((f) => `Backup/${f.rel}`).sort());
    for (const a of assets) assert.equal(a.fileName, path.posix.basename(a.deviceAssetId));
    assert.deepEqual(new Set(assets.map((a) => a.blobSha256)), new Set(first.map((f) => sha256(f.bytes))));

    await allBackedUp(100);
    const items = await library();
    assert.equal(items.length, 100);
    assert.deepEqual(new Set(items.map((i) => i.sha256)), new Set(first.map((f) => sha256(f.bytes))));
  });

  it('copies again: rclone finds everything in the listing and sends nothing', async () => {
    const before = { bytes: await bytesReceived(phone1.deviceId), ...(await counts()) };
    const out = await rclone(phone1.token, 'other', ['copy', path.join(work, 'phone1'), 'relay:Backup']);
    assert.deepEqual(copiedLines(out), [], out);
    assert.match(out, /There was nothing to transfer/);
    assert.match(out, /Checks:\s+100 \/ 100/);
    assert.deepEqual({ bytes: await bytesReceived(phone1.deviceId), ...(await counts()) }, before);
  });

  it('a second device copying an overlapping folder: only the new content is stored and forwarded', async () => {
    const dir = path.join(work, 'phone2');
    await makeFolder(dir, second);
    const blobsBefore = await db().blob.count();
    const out = await rclone(phone2.token, 'other', ['copy', dir, 'relay:Backup']);
    // The second phone's view is its own, so rclone sends all 80; the relay keeps each content once.
    assert.equal(copiedLines(out).length, 80, out);
    assert.equal((await assetsOf(phone2.deviceId)).length, 80);
    assert.equal(await db().blob.count(), blobsBefore + 20);
    assert.equal((await counts()).files, blobsBefore + 20);
    assert.equal(await db().delivery.count(), 120);
    await allBackedUp(120);
    const items = await library();
    assert.equal(items.length, 120, 'each content lands in Google Photos once');
    assert.equal(new Set(items.map((i) => i.sha256)).size, 120);
    // And the first phone's view is untouched by the second's.
    assert.equal((await entriesOf(phone1.deviceId)).filter((e) => e.kind === 'file').length, 100);
  });

  it('with the ownCloud dialect, X-OC-Mtime becomes fileCreatedAt and the listing keeps it, so re-runs skip', async () => {
    const dir = path.join(work, 'dated');
    const files = mixedFiles(6, 'C');
    await makeFolder(dir, files);
    const taken = new Date('2021-07-04T12:34:56Z');
    for (const f of files) await utimes(path.join(dir, f.rel), taken, taken);
    const out = await rclone(phone1.token, 'owncloud', ['copy', dir, 'relay:Dated']);
    assert.equal(copiedLines(out).length, 6, out);
    const dated = (await assetsOf(phone1.deviceId)).filter((a) => a.deviceAssetId.startsWith('Dated/'));
    assert.equal(dated.length, 6);
    for (const a of dated) assert.equal(a.fileCreatedAt?.toISOString(), taken.toISOString());
    const again = await rclone(phone1.token, 'owncloud', ['copy', dir, 'relay:Dated']);
    assert.deepEqual(copiedLines(again), [], again);
  });
});

describe('temporary names, cuts and retries', () => {
  it('an upload under a temporary name becomes an asset only when MOVEd to its final name', async () => {
    const bytes = jpeg(40_000);
    const assetsBefore = (await assetsOf(phone1.deviceId)).length;
    const put = await dav('PUT', '/dav/Phone/IMG_9001.jpg.part', phone1.token, {}, bytes);
    assert.equal(put.status, 201, put.text);
    assert.equal(put.headers.etag, `"${sha256(bytes)}"`);
    assert.equal((await assetsOf(phone1.deviceId)).length, assetsBefore, 'no asset for a temporary name');
    assert.equal((await db().blob.findUniqueOrThrow({ where: { sha256: sha256(bytes) } })).stored, true);

    // Apps set the modification time before or after the rename; either becomes fileCreatedAt.
    const patch = await dav(
      'PROPPATCH',
      '/dav/Phone/IMG_9001.jpg.part',
      phone1.token,
      { 'content-type': 'application/xml' },
      '<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:getlastmodified>Sat, 01 Jun 2024 08:00:00 GMT</d:getlastmodified></d:prop></d:set></d:propertyupdate>',
    );
    assert.equal(patch.status, 207, patch.text);

    const moved = await dav('MOVE', '/dav/Phone/IMG_9001.jpg.part', phone1.token, destination('/dav/Phone/IMG_9001.jpg'));
    assert.equal(moved.status, 201, moved.text);
    const asset = (await assetsOf(phone1.deviceId)).find((a) => a.deviceAssetId === 'Phone/IMG_9001.jpg');
    assert.ok(asset, 'the MOVE made the asset');
    assert.equal(asset.fileName, 'IMG_9001.jpg');
    assert.equal(asset.blobSha256, sha256(bytes));
    assert.equal(asset.fileCreatedAt?.toISOString(), '2024-06-01T08:00:00.000Z');
    assert.equal((await assetsOf(phone1.deviceId)).length, assetsBefore + 1);

    // A MOVE retried after a lost answer finds nothing to move; nothing doubles.
    const again = await dav('MOVE', '/dav/Phone/IMG_9001.jpg.part', phone1.token, destination('/dav/Phone/IMG_9001.jpg'));
    assert.equal(again.status, 404);
    assert.equal((await assetsOf(phone1.deviceId)).length, assetsBefore + 1);

    // rclone's PROPPATCH dialect (DAV:lastmodified, Unix seconds) after the rename updates the asset.
    const later = await dav(
      'PROPPATCH',
      '/dav/Phone/IMG_9001.jpg',
      phone1.token,
      {},
      '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><lastmodified xmlns="DAV:">1700000000</lastmodified></D:prop></D:set></D:propertyupdate>',
    );
    assert.equal(later.status, 207, later.text);
    const updated = await db().asset.findUniqueOrThrow({ where: { id: asset.id } });
    assert.equal(updated.fileCreatedAt?.toISOString(), '2023-11-14T22:13:20.000Z');
    const listing = await dav('PROPFIND', '/dav/Phone/IMG_9001.jpg', phone1.token, { depth: '0' });
    assert.equal(listing.status, 207);
    assert.match(listing.text, /<D:getlastmodified>Tue, 14 Nov 2023 22:13:20 GMT<\/D:getlastmodified>/);

    await waitFor('forwarded', async () => (await library()).some((i) => i.sha256 === sha256(bytes)), 60_000);
  });

  it('files staged in a hidden folder become assets when the folder is renamed', async () => {
    const a = jpeg(9000);
    const b = png(9000);
    assert.equal((await dav('PUT', '/dav/.staging/trip/a.jpg', phone1.token, {}, a)).status, 201);
    assert.equal((await dav('PUT', '/dav/.staging/trip/b.png', phone1.token, {}, b)).status, 201);
    assert.equal((await assetsOf(phone1.deviceId)).filter((x) => [sha256(a), sha256(b)].includes(x.blobSha256)).length, 0);
    const moved = await dav('MOVE', '/dav/.staging/trip/', phone1.token, destination('/dav/Trip/'));
    assert.equal(moved.status, 201, moved.text);
    const made = (await assetsOf(phone1.deviceId)).filter((x) => x.deviceAssetId.startsWith('Trip/'));
    assert.deepEqual(made.map((x) => x.deviceAssetId).sort(), ['Trip/a.jpg', 'Trip/b.png']);
    const list = await dav('PROPFIND', '/dav/Trip/', phone1.token, { depth: '1' });
    assert.match(list.text, /<D:href>\/dav\/Trip\/a\.jpg<\/D:href>/);
    assert.equal((await dav('PROPFIND', '/dav/.staging/trip/', phone1.token, { depth: '0' })).status, 404);
  });

  it('a temporary upload that is never renamed never becomes an asset', async () => {
    const bytes = jpeg(12_000);
    assert.equal((await dav('PUT', '/dav/Phone/.IMG_9002.jpg.tmp', phone1.token, {}, bytes)).status, 201);
    assert.equal((await dav('PUT', '/dav/Phone/IMG_9003.jpg.partial', phone1.token, {}, jpeg(12_000))).status, 201);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await db().asset.count({ where: { blobSha256: sha256(bytes) } }), 0);
  });

  it('a PUT cut mid-body leaves nothing, not even a view entry; the retry succeeds', async () => {
    const bytes = jpeg(2 * 1024 * 1024);
    for (const name of ['IMG_cut.jpg', 'IMG_cut.jpg.part']) {
      const before = await counts();
      await cutPut(phone1.token, `/dav/Phone/${name}`, bytes, 512 * 1024);
      await assertNothingNew(before);
      assert.equal((await dav('PROPFIND', `/dav/Phone/${name}`, phone1.token, { depth: '0' })).status, 404);
    }
    const retry = await dav('PUT', '/dav/Phone/IMG_cut.jpg', phone1.token, {}, bytes);
    assert.equal(retry.status, 201, retry.text);
    const asset = (await assetsOf(phone1.deviceId)).find((a) => a.deviceAssetId === 'Phone/IMG_cut.jpg');
    assert.equal(asset?.blobSha256, sha256(bytes));
    const got = await dav('GET', '/dav/Phone/IMG_cut.jpg', phone1.token);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), sha256(bytes));
    assert.equal(got.headers['content-type'], 'image/jpeg');
    const head = await dav('HEAD', '/dav/Phone/IMG_cut.jpg', phone1.token);
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(bytes.length));
    assert.equal(head.headers.etag, `"${sha256(bytes)}"`);
    assert.equal(head.body.length, 0);
  });
});

describe("the view is the device's own", () => {
  it('DELETE removes entries from the view only: the ledger and Google Photos keep them', async () => {
    const asset = (await assetsOf(phone1.deviceId)).find((a) => a.deviceAssetId === 'Phone/IMG_9001.jpg')!;
    const deleted = await dav('DELETE', '/dav/Phone/IMG_9001.jpg', phone1.token);
    assert.equal(deleted.status, 204);
    assert.equal((await dav('PROPFIND', '/dav/Phone/IMG_9001.jpg', phone1.token, { depth: '0' })).status, 404);
    assert.equal((await dav('DELETE', '/dav/Trip/', phone1.token)).status, 204);
    assert.equal((await dav('DELETE', '/dav/Trip/', phone1.token)).status, 404);
    assert.ok(await db().asset.findUnique({ where: { id: asset.id } }), 'the asset stays');
    assert.equal((await assetsOf(phone1.deviceId)).filter((a) => a.deviceAssetId.startsWith('Trip/')).length, 2);
    assert.ok(
      (await library()).some((i) => i.sha256 === asset.blobSha256),
      'Google Photos keeps it',
    );

    // Sent again: the entry comes back, the ledger dedupes (no second asset, no second delivery).
    const assetsBefore = await db().asset.count();
    const bytes = (await dav('GET', '/dav/Backup/DCIM/Camera/A_IMG_0000.jpg', phone1.token)).body;
    const put = await dav('PUT', '/dav/Phone/again.jpg', phone1.token, {}, bytes);
    assert.equal(put.status, 201);
    assert.equal(await db().asset.count(), assetsBefore);
  });

  it('OPTIONS advertises class 1 and 2; LOCK, UNLOCK, MKCOL, COPY and PROPFIND behave', async () => {
    const { hostname, port } = new URL(rig.relay.url);
    const options = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.request({ host: hostname, port, method: 'OPTIONS', path: '/dav/' }, resolve).on('error', reject).end(),
    );
    options.resume();
    assert.equal(options.statusCode, 200);
    assert.match(String(options.headers.dav), /\b1\b.*\b2\b/);
    assert.match(String(options.headers.allow), /PROPFIND/);

    const lock = await dav(
      'LOCK',
      '/dav/Phone/locked.jpg',
      phone1.token,
      { timeout: 'Second-60' },
      '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>me</D:owner></D:lockinfo>',
    );
    assert.equal(lock.status, 200, lock.text);
    assert.match(String(lock.headers['lock-token']), /^<opaquelocktoken:[0-9a-f-]+>$/);
    assert.match(lock.text, /<D:activelock>/);
    assert.equal(
      (await dav('UNLOCK', '/dav/Phone/locked.jpg', phone1.token, { 'lock-token': lock.headers['lock-token'] as string })).status,
      204,
    );

    assert.equal((await dav('MKCOL', '/dav/Albums/2024/', phone1.token)).status, 201);
    const exists = await dav('MKCOL', '/dav/Albums/2024/', phone1.token);
    assert.equal(exists.status, 405);
    assert.equal(exists.json.code, 'method_not_allowed');

    const assetsBefore = await db().asset.count();
    const copy = await dav('COPY', '/dav/Phone/again.jpg', phone1.token, destination('/dav/Albums/2024/again.jpg'));
    assert.equal(copy.status, 201, copy.text);
    assert.equal(await db().asset.count(), assetsBefore, 'the same content on the same device is one asset');

    const depth1 = await dav('PROPFIND', '/dav/Albums/', phone1.token, { depth: '1' });
    assert.equal(depth1.status, 207);
    assert.equal(depth1.text.match(/<D:response>/g)?.length, 2);
    const depth0 = await dav(
      'PROPFIND',
      '/dav/Albums/2024/again.jpg',
      phone1.token,
      { depth: '0' },
      '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:oc="http://owncloud.org/ns"><D:prop><D:getcontentlength/><D:getetag/><oc:checksums/></D:prop></D:propfind>',
    );
    assert.equal(depth0.status, 207);
    const sha = (await db().davEntry.findFirstOrThrow({ where: { deviceId: phone1.deviceId, path: '/Albums/2024/again.jpg' } })).blobSha256;
    assert.ok(depth0.text.includes(`<D:getetag>"${sha}"</D:getetag>`), depth0.text);
    assert.ok(depth0.text.indexOf('200 OK') < depth0.text.indexOf('404 Not Found'), 'found properties first');
  });

  it('after retention removed the bytes, the file stays listed (nothing re-sent), GET is 404 and a new PUT stores the bytes again', async () => {
    const entry = await db().davEntry.findFirstOrThrow({ where: { deviceId: phone1.deviceId, path: '/Phone/again.jpg' } });
    const bytes = (await dav('GET', '/dav/Phone/again.jpg', phone1.token)).body;
    const realClock = rig.relay.services.clock;
    rig.relay.services.clock = () => new Date(Date.now() + 48 * 3600_000);
    try {
      assert.ok((await applyRetention(rig.relay.services)) > 0);
    } finally {
      rig.relay.services.clock = realClock;
    }
    assert.equal((await db().blob.findUniqueOrThrow({ where: { sha256: entry.blobSha256! } })).stored, false);
    const listed = await dav('PROPFIND', '/dav/Phone/again.jpg', phone1.token, { depth: '0' });
    assert.equal(listed.status, 207);
    const gone = await dav('GET', '/dav/Phone/again.jpg', phone1.token);
    assert.equal(gone.status, 404);
    assert.equal(gone.json.code, 'not_found');

    const assetsBefore = await db().asset.count();
    const put = await dav('PUT', '/dav/Phone/again.jpg', phone1.token, {}, bytes);
    assert.equal(put.status, 204, put.text);
    assert.equal((await db().blob.findUniqueOrThrow({ where: { sha256: entry.blobSha256! } })).stored, true);
    assert.equal(await rig.relay.services.blobs.has(entry.blobSha256!), true);
    assert.equal(await db().asset.count(), assetsBefore);
  });
});
