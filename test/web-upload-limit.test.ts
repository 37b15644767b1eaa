import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { appendSizeFor } from '../src/web/client/upload-limit.ts';
import { Client } from './helpers/client.ts';
import { startRelay, type TestRelay } from './helpers/harness.ts';
import { mp4, sha256 } from './helpers/media.ts';
import { waitFor } from './helpers/rig.ts';
import { collectPageErrors, launchChromium } from './helpers/web.ts';

/** The web app's appends follow the relay's advertised max-append-size (RESUMABLE_MAX_APPEND_BYTES). */

const MiB = 1024 * 1024;

describe('appendSizeFor', () => {
  it('takes max-append-size when it is below the preferred size, and the preferred size otherwise', () => {
    assert.equal(appendSizeFor('max-size=10737418240, max-append-size=1048576', 8 * MiB), MiB);
    assert.equal(appendSizeFor('max-append-size=67108864, max-size=10737418240', 8 * MiB), 8 * MiB);
    assert.equal(appendSizeFor('max-size=10737418240,max-append-size=65536', 8 * MiB), 65536);
  });

  it('without a usable max-append-size, the preferred size', () => {
    for (const header of [
      null,
      '',
      'max-size=1000',
      'max-append-size=',
      'max-append-size=0',
      'max-append-size=-5',
      'max-append-size=1e6',
      'max-append-size=abc',
    ])
      assert.equal(appendSizeFor(header, 8 * MiB), 8 * MiB, String(header));
  });
});

describe('the web app behind a proxy whose body limit is 1 MiB', () => {
  let relay: TestRelay;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    relay = await startRelay({ RESUMABLE_MAX_APPEND_BYTES: String(MiB) });
    browser = await launchChromium();
    page = await browser.newPage();
    collectPageErrors(page, pageErrors);
  });
  after(async () => {
    await browser?.close();
    await relay?.close();
  });

  it('uploads a 5 MB video in PATCHes of at most 1 MiB', async (t) => {
    const admin = new Client(relay.url);
    const accountId = await admin.createAccount('Limited');
    const phone = await admin.pairDevice(accountId, 'Browser');
    // Paired as the pairing page leaves it.
    await page.goto(`${relay.url}/app`);
    await page.evaluate(
      ([token, deviceId, accountId]) =>
        localStorage.setItem(
          'photo-relay.device',
          JSON.stringify({ token, deviceId, accountId, accountName: 'Limited', deviceName: 'Browser' }),
        ),
      [phone.token, phone.deviceId, accountId],
    );
    await page.reload();

    const dir = await mkdtemp(path.join(tmpdir(), 'web-upload-limit-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const video = mp4(5 * MiB + 12_345);
    const file = path.join(dir, 'VIDEO.mp4');
    await writeFile(file, video);

    // The proxy: an append over its limit is refused with 413, as nginx's client_max_body_size would.
    const patches: number[] = [];
    await page.route('**/api/v1/uploads/**', async (route) => {
      const request = route.request();
      if (request.method() !== 'PATCH') return route.continue();
      const size = request.postDataBuffer()?.length ?? 0;
      patches.push(size);
      if (size > MiB) return route.fulfill({ status: 413, body: 'Request Entity Too Large' });
      return route.continue();
    });

    await page.getByLabel('Choose photos and videos').setInputFiles(file);
    await waitFor('the upload ends', async () => /^Done: /.test(await page.getByTestId('upload-summary').innerText()), 60_000, 200);
    assert.match(await page.getByTestId('upload-summary').innerText(), /^Done: 1 of 1 files/);
    assert.ok(patches.length >= 6, `${patches.length} PATCHes: ${patches.join(', ')}`);
    assert.ok(
      patches.every((n) => n <= MiB),
      `PATCHes over 1 MiB: ${patches.filter((n) => n > MiB).join(', ')}`,
    );
    const asset = await relay.services.db.asset.findFirst({ where: { blobSha256: sha256(video) } });
    assert.ok(asset, 'the video is registered');
    assert.equal(asset.fileName, 'VIDEO.mp4');
  });

  it('no page errors', () => {
    assert.deepEqual(
      pageErrors.filter((e) => !/40[0-4]|Failed to load resource/.test(e)),
      [],
    );
  });
});
