import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, type Run } from './helpers/cli-run.ts';
import { jpeg, mp4, notMedia, png, sha256 } from './helpers/media.ts';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';

/**
 * The photo-relay CLI end to end: run as a child process (bin/photo-relay.mjs) against a relay that forwards to the
 * Google Photos emulator, talking to it over HTTP only.
 */

let rig: Rig;
let work: string;

const cli = (args: string[], options?: { env?: Record<string, string>; input?: string }): Promise<Run> => runCli(rig.relay.url, args, options);

/** Fail with the whole output: a CLI test is debugged from what the user would have seen. */
function ok(run: Run, expected = 0): Run {
  assert.equal(run.code, expected, `exit ${run.code}, expected ${expected}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
  return run;
}

/** The push summary's counts, as printed. */
function summaryOf(stdout: string) {
  const get = (label: string) => {
    const match = stdout.match(new RegExp(`^\\s+${label}:\\s+(\\d+)`, 'm'));
    assert.ok(match, `no "${label}" in the summary:\n${stdout}`);
    return Number(match[1]);
  };
  return {
    filesSeen: get('files seen'),
    uploaded: get('uploaded'),
    registeredByHash: get('registered by hash'),
    alreadyOnDevice: get('already on device'),
    skippedNonMedia: get('skipped non-media'),
    failed: get('failed'),
    bytesUploaded: get('bytes uploaded'),
  };
}

interface Made {
  rel: string;
  bytes: Buffer;
}

/** Write media files (JPEG, PNG, MP4 in turn) of random sizes from 1 to 200 KB under `dir`. */
async function writeMedia(dir: string, count: number, prefix: string): Promise<Made[]> {
  const made: Made[] = [];
  for (let i = 0; i < count; i++) {
    const size = randomInt(1000, 200_001);
    const [ext, bytes] = i % 3 === 0 ? ['jpg', jpeg(size)] : i % 3 === 1 ? ['png', png(size)] : ['mp4', mp4(size)];
    const rel = `${i % 4 === 0 ? 'DCIM/Camera/' : i % 4 === 1 ? 'DCIM/2025/11/' : ''}${prefix}_${String(i).padStart(4, '0')}.${ext}`;
    made.push({ rel, bytes: bytes as Buffer });
  }
  await writeAll(dir, made);
  return made;
}

async function writeAll(dir: string, files: Made[]): Promise<void> {
  for (const f of files) {
    await mkdir(path.dirname(path.join(dir, f.rel)), { recursive: true });
    await writeFile(path.join(dir, f.rel), f.bytes);
  }
}

/** A port nothing listens on. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const sumSizes = (files: Made[]) => files.reduce((n, f) => n + f.bytes.length, 0);

async function libraryHashes(email: string): Promise<Set<string>> {
  const library = await rig.control('GET', `/emulator/libraries/${encodeURIComponent(email)}/items`);
  return new Set(library.items.map((i: { sha256: string }) => i.sha256));
}

async function deviceView(token: string) {
  const res = await rig.admin.as(token).call('GET', '/api/v1/device');
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as { id: string; bytesReceived: number; counts: Record<string, number> };
}

before(async () => {
  [rig, work] = await Promise.all([startRig(), mkdtemp(path.join(tmpdir(), 'photo-relay-cli-'))]);
});
after(async () => {
  await rig?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('photo-relay CLI', () => {
  let aliceId = '';
  let bobId = '';
  let firstToken = '';
  let secondToken = '';
  let secondDeviceId = '';
  let folder1: { media: Made[]; unique: Made[]; nonMedia: Made[] };
  const dir1 = () => path.join(work, 'phone1');

  it('adds and lists accounts', async () => {
    const [added, addedJson] = await Promise.all([cli(['accounts', 'add', 'Alice']), cli(['--json', 'accounts', 'add', 'Bob'])]);
    aliceId = ok(added).stdout.match(/Created account Alice \(([0-9a-f-]{36})\)/)?.[1] ?? '';
    assert.ok(aliceId, added.stdout);
    bobId = JSON.parse(ok(addedJson).stdout).id;
    assert.ok(bobId);
    await rig.link(aliceId, 'alice@example.com');

    const list = ok(await cli(['accounts', 'list']));
    const [header, ...rows] = list.stdout.trimEnd().split('\n');
    assert.match(header!, /^ID\s+NAME\s+GOOGLE\s+FORWARDING\s+DEVICES\s+BACKED UP\s+BACKLOG\s+HELD\s+FAILED$/);
    const alice = rows.find((r) => r.startsWith(aliceId));
    assert.ok(alice, list.stdout);
    assert.match(alice, /Alice\s+linked alice@example\.com\s+active\s+0\s+0\s+0 \(0 B\)/);
    assert.match(rows.find((r) => r.startsWith(bobId)) ?? '', /Bob\s+unlinked\s+active/);
  });

  it('links an account to Google from a pasted redirect URL', async () => {
    await rig.control('POST', '/emulator/consent', { email: 'bob@example.com' });
    const started = ok(await cli(['google', 'link', 'Bob', '--no-wait']));
    const authUrl = started.stdout.match(/^\s+(http\S+\/o\/oauth2\/v2\/auth\S+)$/m)?.[1];
    assert.ok(authUrl, started.stdout);
    const consent = await fetch(authUrl, { redirect: 'manual' });
    const redirectUrl = consent.headers.get('location') ?? '';
    assert.ok(redirectUrl.includes('/oauth/google/callback?'), `consent answered ${consent.status} ${redirectUrl}`);

    const linked = ok(await cli(['google', 'link', bobId, '--redirect-url', redirectUrl]));
    assert.match(linked.stdout, /Linked Bob to Google account bob@example\.com\./);
    const bob = await rig.admin.call('GET', `/api/v1/admin/accounts/${bobId}`);
    assert.equal(bob.body.google.status, 'linked');
    assert.equal(bob.body.google.email, 'bob@example.com');

    // The same redirect again: the relay's error code and message, exit 1, no stack trace.
    const again = ok(await cli(['google', 'link', 'Bob', '--redirect-url', redirectUrl]), 1);
    assert.match(again.stderr, /^error: validation_failed: .+\(HTTP 400\)$/m);
  });

  it('pushes a folder with a pairing code: media end backed up in Google Photos, non-media skipped', async (t) => {
    // 200 files: 176 distinct media, 22 copies of some of them elsewhere in the folder, 2 non-media files.
    const unique = await writeMedia(dir1(), 176, 'IMG');
    const copies: Made[] = unique.slice(0, 22).map((f, i) => ({ rel: `copies/copy_${i}_${path.basename(f.rel)}`, bytes: f.bytes }));
    const nonMedia: Made[] = [
      { rel: 'notes.txt', bytes: notMedia(500) },
      { rel: 'DCIM/scan.pdf', bytes: notMedia(150_000) },
    ];
    // Hidden files and folders are not part of the backup.
    const hidden: Made[] = [
      { rel: '.DS_Store', bytes: notMedia(100) },
      { rel: '.thumbnails/IMG_0000.jpg', bytes: jpeg(3000) },
    ];
    await writeAll(dir1(), [...copies, ...nonMedia, ...hidden]);
    const dated = unique.find((f) => f.rel.startsWith('DCIM/Camera/'))!;
    await utimes(path.join(dir1(), dated.rel), new Date('2021-06-01T12:00:00Z'), new Date('2021-06-01T12:00:00Z'));
    folder1 = { media: [...unique, ...copies], unique, nonMedia };

    const pairing = ok(await cli(['pair', 'Alice']));
    const code = pairing.stdout.match(/^Pairing code for Alice: ([0-9A-Z]{5}-[0-9A-Z]{5})$/m)?.[1];
    assert.ok(code, pairing.stdout);
    assert.match(pairing.stdout, new RegExp(`^Pair URL: \\S+/pair\\?code=${code}$`, 'm'));
    assert.match(pairing.stdout, /[█▀▄]{10,}/, 'a QR code is drawn');

    const push = ok(await cli(['push', dir1(), '--pair-code', code, '--device-name', 'Laptop A', '--concurrency', '6']));
    t.diagnostic(push.stdout.match(/^Pushed .*$/m)?.[0] ?? '');
    firstToken = push.stdout.match(/prd_[A-Za-z0-9_-]{20,}/)?.[0] ?? '';
    assert.ok(firstToken, push.stdout);
    assert.match(push.stderr + push.stdout, /skipped\s+notes\.txt\s+not a photo or video \(415 unsupported_media_type\)/);
    assert.deepEqual(summaryOf(push.stdout), {
      filesSeen: 200,
      uploaded: 176,
      registeredByHash: 0,
      alreadyOnDevice: 22, // the copies: same content as a file this device just uploaded
      skippedNonMedia: 2,
      failed: 0,
      bytesUploaded: sumSizes(unique),
    });
    // Not a TTY: one line per file.
    assert.equal(push.stdout.match(/^\[\s*\d+\/200\] /gm)?.length, 200);

    const expected = new Set(unique.map((f) => sha256(f.bytes)));
    await waitFor(
      "every media file in Alice's library",
      async () => {
        const library = await libraryHashes('alice@example.com');
        return library.size === expected.size && [...expected].every((h) => library.has(h));
      },
      60_000,
      250,
    );
    const device = (await waitFor('all backed up', async () => {
      const d = await deviceView(firstToken);
      return d.counts.backedUp === 176 ? d : null;
    }))!;
    assert.equal(device.bytesReceived, sumSizes(unique));

    // The asset carries the file's relative path, name and modification time.
    const assets = await rig.admin.as(firstToken).call('GET', '/api/v1/assets?limit=1000');
    const asset = assets.body.items.find((a: { deviceAssetId: string }) => a.deviceAssetId === dated.rel);
    assert.ok(asset, `no asset with deviceAssetId ${dated.rel}`);
    assert.equal(asset.fileName, path.basename(dated.rel));
    assert.equal(asset.fileCreatedAt, '2021-06-01T12:00:00.000Z');
    assert.equal(asset.state, 'backed_up');
  });

  it('pushes the same folder again without sending a byte of media', async (t) => {
    const before = await deviceView(firstToken);
    const push = ok(await cli(['push', dir1(), '--quiet'], { env: { PHOTO_RELAY_DEVICE_TOKEN: firstToken } }));
    t.diagnostic(push.stdout.match(/^Pushed .*$/m)?.[0] ?? '');
    assert.deepEqual(summaryOf(push.stdout), {
      filesSeen: 200,
      uploaded: 0,
      registeredByHash: 0,
      alreadyOnDevice: 198,
      skippedNonMedia: 2,
      failed: 0,
      bytesUploaded: 0,
    });
    assert.doesNotMatch(push.stdout, /^\[\s*\d+\/200\] uploaded/m, '--quiet: no line per file');
    const afterPush = await deviceView(firstToken);
    assert.equal(afterPush.bytesReceived, before.bytesReceived, 'the relay received nothing new');
    assert.equal(afterPush.counts.backedUp, 176);
    assert.equal((await libraryHashes('alice@example.com')).size, 176);
  });

  it('a second device uploads only the new content of an overlapping folder and registers the rest by hash', async () => {
    const dir2 = path.join(work, 'phone2');
    const overlap: Made[] = folder1.unique.slice(100, 150).map((f) => ({ rel: `Backup/${path.basename(f.rel)}`, bytes: f.bytes }));
    await writeAll(dir2, overlap);
    const fresh = await writeMedia(dir2, 40, 'NEW');
    await writeAll(dir2, [{ rel: 'readme.txt', bytes: notMedia(800) }]);

    const code = ok(await cli(['pair', aliceId, '--no-qr'])).stdout.match(/([0-9A-Z]{5}-[0-9A-Z]{5})/)?.[1];
    assert.ok(code);
    // --strict: a non-media file is a failure (exit 1); --json: the summary as JSON on stdout.
    const push = ok(await cli(['--json', 'push', dir2, '--pair-code', code, '--device-name', 'Laptop B', '--strict']), 1);
    const summary = JSON.parse(push.stdout);
    secondToken = summary.pairedDevice.token;
    secondDeviceId = summary.deviceId;
    assert.equal(summary.filesSeen, 91);
    assert.equal(summary.uploaded, 40);
    assert.equal(summary.bytesUploaded, sumSizes(fresh));
    assert.equal(summary.registeredByHash, 50);
    assert.equal(summary.alreadyOnDevice, 0);
    assert.equal(summary.skippedNonMedia, 1);
    assert.equal(summary.failed, 0);

    const device = await deviceView(secondToken);
    assert.equal(device.bytesReceived, sumSizes(fresh));
    const expected = [...folder1.unique, ...fresh].map((f) => sha256(f.bytes));
    await waitFor(
      'the new content in the library too',
      async () => {
        const library = await libraryHashes('alice@example.com');
        return library.size === expected.length && expected.every((h) => library.has(h));
      },
      60_000,
      250,
    );
  });

  it('status shows quota, storage and the per-account backlog', async () => {
    const status = ok(await cli(['status']));
    const api = (await rig.admin.call('GET', '/api/v1/admin/status')).body;
    assert.match(
      status.stdout,
      new RegExp(`^Quota\\s+[\\d,]+ of ${api.quota.dailyLimit.toLocaleString('en-US')} Google requests used today`, 'm'),
    );
    assert.match(status.stdout, /^Storage\s+\d+ blobs held, [\d.]+ [kMG]?B; [\d.]+ [kMGT]?B free on the spool$/m);
    assert.match(status.stdout, /^Queues\s+upload: /m);
    assert.match(status.stdout, /^ACCOUNT\s+BACKLOG\s+BYTES\s+FAILED\s+QUOTA TODAY\s+ETA\s+STATE$/m);
    assert.match(status.stdout, /^Alice\s+\d+\s+[\d.]+ k?B\s+0\s+\d+\s+/m);
    assert.match(status.stdout, /^Bob\s+0\s+0 B\s+0\s+0\s+done\s+idle$/m);

    // A paused account shows what waits and why.
    await rig.admin.call('PATCH', `/api/v1/admin/accounts/${bobId}`, { forwarding: 'paused' });
    const paused = ok(await cli(['status']));
    assert.match(paused.stdout, /^Bob\s+.*held: forwarding paused$/m);
    assert.match(paused.stdout, /^Needs attention:\n(\s+- .*\n)*\s+- Bob: forwarding paused/m);
    await rig.admin.call('PATCH', `/api/v1/admin/accounts/${bobId}`, { forwarding: 'active' });
  });

  it('lists devices and revokes one', async () => {
    const [list, bobs] = await Promise.all([cli(['devices', 'list', '--account', 'Alice']), cli(['devices', 'list', '--account', 'Bob'])]);
    ok(list);
    assert.match(list.stdout, /^ID\s+NAME\s+PLATFORM\s+ACCOUNT\s+STATUS\s+LAST SEEN/);
    const laptopB = list.stdout.split('\n').find((l) => l.includes('Laptop B')) ?? '';
    assert.ok(laptopB.startsWith(secondDeviceId), list.stdout);
    assert.match(laptopB, /Laptop B\s+cli\s+Alice\s+active\s+.+\s+\d+\s+\d+\s+0\s+[\d.]+ [kM]B$/);
    assert.ok(list.stdout.includes('Laptop A'));
    assert.equal(ok(bobs).stdout.trim(), `Bob has no devices. Pair one: photo-relay pair ${bobId}`);

    const revoked = ok(await cli(['devices', 'revoke', secondDeviceId]));
    assert.match(revoked.stdout, /Revoked device/);
    const [all, refused] = await Promise.all([cli(['devices', 'list']), cli(['push', dir1(), '--device-token', secondToken])]);
    assert.match(ok(all).stdout, new RegExp(`^${secondDeviceId}\\s+Laptop B\\s+cli\\s+Alice\\s+revoked`, 'm'));
    // Its token stops working at once: a configuration error (exit 2) with the relay's code.
    ok(refused, 2);
    assert.match(refused.stderr, /^error: unauthorized: .+\(HTTP 401\)$/m);
  });

  it('reports usage and configuration errors with exit code 2, failures with 1, never a stack trace', async () => {
    const nowhere = await freePort();
    // Independent runs: in parallel, to keep the test short.
    const [badToken, noToken, noDir, unknownCommand, unknownAccount, down] = await Promise.all([
      cli(['accounts', 'list', '--token', 'not-the-admin-token']),
      cli(['status'], { env: { PHOTO_RELAY_ADMIN_TOKEN: '' } }),
      cli(['push', path.join(work, 'no-such-dir'), '--device-token', firstToken]),
      cli(['frobnicate']),
      cli(['pair', 'Nobody']),
      cli(['status', '--url', `http://127.0.0.1:${nowhere}`, '--retries', '0']),
    ]);
    assert.match(ok(badToken, 2).stderr, /^error: unauthorized: .+\(HTTP 401\)$/m);
    assert.match(ok(noToken, 2).stderr, /^error: no admin token/m);
    assert.match(ok(noDir, 2).stderr, /^error: not a directory: /m);
    assert.match(ok(unknownCommand, 2).stderr, /unknown command 'frobnicate'/);
    assert.match(ok(unknownAccount, 1).stderr, /^error: not_found: no account named "Nobody"/m);
    assert.match(
      ok(down, 1).stderr,
      new RegExp(`^error: cannot reach the relay at http://127\\.0\\.0\\.1:${nowhere}: .*ECONNREFUSED`, 'm'),
    );
  });
});
