import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, type Run } from './helpers/cli-run.ts';
import { Client } from './helpers/client.ts';
import { cuttingProxy } from './helpers/cutting-proxy.ts';
import { startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg, mp4, sha256 } from './helpers/media.ts';
import { resumableBytes } from './helpers/metrics.ts';

/**
 * `photo-relay push` sends large files through the resumable endpoint (tus) and, when the connection is cut midway,
 * resumes from the relay's offset instead of starting over: run as a child process through a proxy that cuts.
 */

let relay: TestRelay;
let work: string;

before(async () => {
  relay = await startRelay();
  work = await mkdtemp(path.join(tmpdir(), 'photo-relay-cli-resumable-'));
});
after(async () => {
  await relay?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function ok(run: Run): Run {
  assert.equal(run.code, 0, `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
  assert.doesNotMatch(run.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
  return run;
}

async function folder(name: string, files: Record<string, Buffer>): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(dir, { recursive: true });
  for (const [rel, bytes] of Object.entries(files)) await writeFile(path.join(dir, rel), bytes);
  return dir;
}

async function device(name: string) {
  const admin = new Client(relay.url);
  return admin.pairDevice(await admin.createAccount(name), `${name}'s laptop`);
}

/** The resumable uploads the device created, and its assets. */
async function ledgerOf(deviceId: string) {
  const { db } = relay.services;
  const uploads = await db.resumableUpload.findMany({ where: { deviceId } });
  const assets = await db.asset.findMany({ where: { deviceId } });
  return { uploads, assets };
}

describe('push through the resumable endpoint', () => {
  it('a large file cut twice mid-transfer resumes at the relay offset: each byte appended once, one asset', async (t) => {
    const big = mp4(24_000_000 + Math.floor(Math.random() * 1000));
    const small = jpeg(200_000);
    const dir = await folder('cut', { 'VID_0001.mp4': big, 'IMG_0001.jpg': small });
    const phone = await device('Cut');
    const proxy = await cuttingProxy(relay.url, [7_000_000, 16_000_000]);
    const before = await resumableBytes(relay.url);
    let run: Run;
    try {
      run = ok(await runCli(proxy.url, ['push', dir, '--device-token', phone.token, '--resumable-threshold', '1000000']));
    } finally {
      await proxy.close();
    }
    const after = await resumableBytes(relay.url);
    assert.equal(proxy.cutsLeft(), 0, 'the proxy did not cut twice');
    // On the relay: every byte of the video appended exactly once (a start-over would append the first bytes again),
    // and little more received than that: what a cut request had in flight past the offset it left.
    const appended = after.appended - before.appended;
    const received = after.received - before.received;
    t.diagnostic(`file ${big.length} B; relay received ${received} B, appended ${appended} B; proxy forwarded ${proxy.forwarded()} B`);
    assert.equal(appended, big.length, `appended ${appended} bytes for a ${big.length}-byte file`);
    assert.ok(received >= appended && received <= appended + 2 * 256 * 1024, `received ${received} for ${appended} appended`);
    assert.ok(proxy.forwarded() < 1.5 * (big.length + small.length), `the proxy forwarded ${proxy.forwarded()} bytes`);

    const output = run.stdout + run.stderr;
    const resumes = [...output.matchAll(/VID_0001\.mp4: resuming at byte (\d+) of (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(resumes.length >= 2, true, `two resumes expected:\n${output}`);
    assert.ok(resumes.at(-1)! > 0, `the last resume started from 0:\n${output}`);
    for (let i = 1; i < resumes.length; i++) assert.ok(resumes[i]! >= resumes[i - 1]!, `a resume went back: ${resumes.join(', ')}`);
    assert.match(run.stdout, /^\s+uploaded:\s+2$/m);
    assert.match(run.stdout, /^\s+failed:\s+0$/m);

    const { uploads, assets } = await ledgerOf(phone.deviceId);
    assert.equal(uploads.length, 1, 'one resumable upload, for the video only (the photo is below the threshold)');
    assert.equal(uploads[0]!.fileName, 'VID_0001.mp4');
    assert.equal(uploads[0]!.sha256, sha256(big), 'the whole-file hash travelled in Upload-Metadata');
    assert.ok(uploads[0]!.completedAt);
    assert.deepEqual(assets.map((a) => a.blobSha256).sort(), [sha256(big), sha256(small)].sort());
    assert.equal(assets.find((a) => a.blobSha256 === sha256(big))!.id, uploads[0]!.assetId);
    assert.equal(await relay.services.db.delivery.count({ where: { blobSha256: sha256(big) } }), 1);
  });

  it('with --patch-checksum each PATCH carries its SHA-256; a cut PATCH is sent again from the offset', async () => {
    const big = mp4(6_000_000 + Math.floor(Math.random() * 1000));
    const dir = await folder('checksum', { 'VID_0002.mp4': big });
    const phone = await device('Checksum');
    const proxy = await cuttingProxy(relay.url, [3_000_000]);
    const before = await resumableBytes(relay.url);
    let run: Run;
    try {
      run = ok(
        await runCli(proxy.url, ['push', dir, '--device-token', phone.token, '--resumable-threshold', '1000000', '--patch-checksum']),
      );
    } finally {
      await proxy.close();
    }
    const after = await resumableBytes(relay.url);
    assert.equal(proxy.cutsLeft(), 0);
    assert.match(run.stdout + run.stderr, /VID_0002\.mp4: resuming at byte 0 of /, 'a PATCH cut under a checksum keeps nothing');
    assert.equal(after.appended - before.appended, big.length);
    assert.ok(after.received - before.received > big.length, 'the cut PATCH was received in part, and dropped');
    const { uploads, assets } = await ledgerOf(phone.deviceId);
    assert.equal(uploads.length, 1);
    assert.deepEqual(
      assets.map((a) => a.blobSha256),
      [sha256(big)],
    );
  });

  it('files below the threshold (32 MiB by default) go in one multipart request', async () => {
    const dir = await folder('small', { 'VID_0003.mp4': mp4(3_000_000) });
    const phone = await device('Small');
    ok(await runCli(relay.url, ['push', dir, '--device-token', phone.token]));
    const { uploads, assets } = await ledgerOf(phone.deviceId);
    assert.equal(uploads.length, 0);
    assert.equal(assets.length, 1);
  });
});
