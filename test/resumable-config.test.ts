import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sweepResumableUploads } from '../src/resumable/sweep.ts';
import { assertError } from './helpers/checks.ts';
import { runCli } from './helpers/cli-run.ts';
import { Client } from './helpers/client.ts';
import { startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg, mp4, sha256 } from './helpers/media.ts';
import { scrape } from './helpers/metrics.ts';
import { call, createTus, ietf, metadata, partFiles, patchTus, TUS } from './helpers/resumable.ts';

/**
 * The resumable endpoint's limits are configuration (RESUMABLE_UPLOAD_TTL_SECONDS, RESUMABLE_MAX_OPEN_PER_DEVICE,
 * RESUMABLE_MAX_APPEND_BYTES): a relay set up with small ones behaves by them.
 */

const TTL_SECONDS = 2;
const MAX_OPEN = 3;
const MAX_APPEND = 1024 * 1024;
let relay: TestRelay;
let work: string;

before(async () => {
  relay = await startRelay({
    RESUMABLE_UPLOAD_TTL_SECONDS: String(TTL_SECONDS),
    RESUMABLE_MAX_OPEN_PER_DEVICE: String(MAX_OPEN),
    RESUMABLE_MAX_APPEND_BYTES: String(MAX_APPEND),
  });
  work = await mkdtemp(path.join(tmpdir(), 'photo-relay-resumable-config-'));
});
after(async () => {
  await relay?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

async function device(name: string) {
  const admin = new Client(relay.url);
  return admin.pairDevice(await admin.createAccount(name), `${name}'s phone`);
}

const fields = (id: string) => ({ deviceAssetId: id, fileName: `${id}.jpg` });

describe('resumable limits from the configuration', () => {
  it(`RESUMABLE_MAX_OPEN_PER_DEVICE=${MAX_OPEN}: the next creation is 429 rate_limited until one is finished or deleted`, async () => {
    const phone = await device('Cap');
    // Nothing may expire while the cap is counted: the relay's clock stands still for this test.
    const realClock = relay.services.clock;
    const now = realClock();
    relay.services.clock = () => now;
    try {
      const urls = [];
      for (let i = 0; i < MAX_OPEN; i++) urls.push(await createTus(relay, phone.token, 1000, fields(`open-${i}`)));
      const refused = await call(relay, phone.token, 'POST', '/api/v1/uploads', {
        ...TUS,
        'upload-length': '1000',
        'upload-metadata': metadata(fields('one-more')),
      });
      assertError(refused, 429, 'rate_limited');
      assert.match(refused.body.message, new RegExp(`has ${MAX_OPEN} unfinished uploads`));
      // Another device has a cap of its own.
      await createTus(relay, (await device('Other')).token, 1000, fields('other'));
      assert.equal((await call(relay, phone.token, 'DELETE', urls[0]!, TUS)).status, 204);
      await createTus(relay, phone.token, 1000, fields('one-more'));
    } finally {
      relay.services.clock = realClock;
    }
  });

  it(`RESUMABLE_UPLOAD_TTL_SECONDS=${TTL_SECONDS}: Upload-Expires says so, the upload is 404 once past it, the sweep removes it`, async () => {
    const phone = await device('Ttl');
    const bytes = jpeg(100_000);
    const url = await createTus(relay, phone.token, bytes.length, fields('short-lived'));
    const id = url.split('/').pop()!;
    const appended = await patchTus(relay, phone.token, url, 0, bytes.subarray(0, 40_000));
    assert.equal(appended.status, 204);
    const expires = Date.parse(appended.headers.get('upload-expires')!);
    // Upload-Expires is an HTTP date (whole seconds).
    assert.ok(Math.abs(expires - (Date.now() + TTL_SECONDS * 1000)) < 2000, `Upload-Expires ${appended.headers.get('upload-expires')}`);
    assert.ok((await partFiles(relay)).includes(`${id}.part`));
    // An append renews the lease; a second one within it still finds the upload.
    assert.equal((await patchTus(relay, phone.token, url, 40_000, bytes.subarray(40_000, 60_000))).status, 204);
    await new Promise((r) => setTimeout(r, TTL_SECONDS * 1000 + 300));
    assertError(await patchTus(relay, phone.token, url, 60_000, bytes.subarray(60_000)), 404, 'not_found');
    assert.equal((await call(relay, phone.token, 'HEAD', url, TUS)).status, 404);
    assert.ok((await sweepResumableUploads(relay.services)) >= 1);
    assert.equal(await relay.services.db.resumableUpload.count({ where: { id } }), 0);
    assert.ok(!(await partFiles(relay)).includes(`${id}.part`), 'the bytes were swept');
  });

  it(`RESUMABLE_MAX_APPEND_BYTES=${MAX_APPEND}: advertised in Upload-Limit, and photo-relay push sends PATCHes no larger`, async () => {
    const options = await fetch(`${relay.url}/api/v1/uploads`, { method: 'OPTIONS' });
    assert.equal(options.headers.get('upload-limit'), `max-size=${relay.config.maxUploadBytes}, max-append-size=${MAX_APPEND}`);
    const phone = await device('Append');
    const created = await call(relay, phone.token, 'POST', '/api/v1/uploads', {
      ...ietf(6),
      'upload-complete': '?0',
      'upload-metadata': metadata(fields('draft')),
    });
    assert.match(created.headers.get('upload-limit')!, new RegExp(`max-append-size=${MAX_APPEND}$`));

    const video = mp4(3 * MAX_APPEND + 12_345);
    const dir = path.join(work, 'append');
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'VID_0001.mp4'), video);
    const patches = async () => (await scrape(relay.url)).get('photo_relay_uploads_total{outcome="204"}') ?? 0;
    const before = await patches();
    const run = await runCli(relay.url, ['push', dir, '--device-token', phone.token, '--resumable-threshold', '1']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    // Four appends of at most 1 MiB: three answered 204 along the way, the last one completing the upload ("created").
    assert.equal((await patches()) - before, 3);
    const asset = await relay.services.db.asset.findFirstOrThrow({ where: { deviceId: phone.deviceId } });
    assert.equal(asset.blobSha256, sha256(video));
  });
});
