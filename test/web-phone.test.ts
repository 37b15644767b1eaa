import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { Client } from './helpers/client.ts';
import { assetsOf, uniqueEmail, waitAllState } from './helpers/forwarding.ts';
import { jpeg, mp4, sha256 } from './helpers/media.ts';
import { waitFor } from './helpers/rig.ts';
import { collectPageErrors, launchChromium, startWebRig, type WebRig, screenshotPath } from './helpers/web.ts';

/** The phone's pages (/pair, /app) in Chromium with a phone's screen, against a running relay, worker and emulator. */

let rig: WebRig;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let accountId: string;
const pageErrors: string[] = [];

const ANDROID_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36';

before(async () => {
  rig = await startWebRig();
  accountId = await rig.admin.createAccount('Alice');
  await rig.link(accountId, uniqueEmail('alice'));
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, userAgent: ANDROID_UA });
  page = await context.newPage();
  collectPageErrors(page, pageErrors);
});
after(async () => {
  await browser?.close();
  await rig?.close();
});

const shot = (name: string) => page.screenshot({ path: screenshotPath(name), fullPage: true });
const deviceToken = () =>
  page.evaluate(() => JSON.parse(localStorage.getItem('photo-relay.device') ?? 'null')?.token as string | undefined);

async function resumableEndpoint(): Promise<boolean> {
  const res = await fetch(`${rig.relay.url}/api/v1/uploads`, { method: 'OPTIONS', headers: { 'tus-resumable': '1.0.0' } });
  return res.status !== 404;
}

it('serves /pair and /app with a strict Content-Security-Policy', async () => {
  for (const p of ['/pair?code=x', '/app']) {
    const res = await fetch(`${rig.relay.url}${p}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    // hash-wasm compiles WebAssembly; no JavaScript eval, no inline code.
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self' 'wasm-unsafe-eval'(;|$)/);
    assert.doesNotMatch(await res.text(), /<script(?![^>]*\bsrc=)[^>]*>/);
  }
});

it('a used or unknown code is refused with a clear message', async () => {
  await page.goto(`${rig.relay.url}/pair?code=NOPE00-NOPE00`);
  await page.getByRole('button', { name: 'Pair this phone' }).click();
  await page.getByRole('alert').filter({ hasText: 'unknown, used or expired' }).waitFor();
  assert.equal(await deviceToken(), undefined);
});

it('opening the pairing URL pairs the phone and says which account it backs up to', async () => {
  const { body: pairing } = await rig.admin.call('POST', `/api/v1/admin/accounts/${accountId}/pairings`);
  // As the admin's QR code carries it: the pairing URL plus the account's name in the fragment.
  await page.goto(`${pairing.pairUrl}#for=Alice`);
  assert.equal(await page.getByLabel('Pairing code').inputValue(), pairing.code);
  await page.getByText("back up to Alice's Google Photos").waitFor();
  await shot('phone-pair');
  await page.getByRole('button', { name: 'Pair this phone' }).click();
  await page.getByTestId('backs-up-to').waitFor();
  assert.match(await page.getByTestId('backs-up-to').innerText(), /backs up to Alice's Google Photos/);
  assert.equal(new URL(page.url()).pathname, '/app');
  assert.ok(!page.url().includes(pairing.code), 'the spent code left the address bar');
  const token = await deviceToken();
  assert.ok(token, 'the device token is kept in localStorage');
  const device = await new Client(rig.relay.url, token).call('GET', '/api/v1/device');
  assert.equal(device.status, 200);
  assert.equal(device.body.accountId, accountId);
  // The same code does not pair twice.
  assert.equal(
    (await new Client(rig.relay.url, '').call('POST', '/api/v1/pair', { code: pairing.code, name: 'x', platform: 'android' })).status >=
      400,
    true,
  );
});

it('offers the backup apps: Nextcloud link, WebDAV settings with copy buttons', async () => {
  const token = (await deviceToken())!;
  const nc = await page.getByRole('link', { name: 'Open the Nextcloud app' }).getAttribute('href');
  assert.equal(nc, `nc://login/user:Android%20phone&password:${token}&server:${rig.relay.url}`);
  await page.getByText('WebDAV apps (PhotoSync, FolderSync)').click();
  assert.equal(await page.getByLabel('Server', { exact: true }).inputValue(), `${rig.relay.url}/dav/`);
  assert.equal(await page.getByLabel('User', { exact: true }).inputValue(), 'Android phone');
  assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), token);
  for (const what of ['Server', 'User', 'Password']) assert.equal(await page.getByRole('button', { name: `Copy ${what}` }).count(), 1);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: rig.relay.url });
  await page.getByRole('button', { name: 'Copy Server' }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `${rig.relay.url}/dav/`);
  // The WebDAV settings work: the same device token opens /dav/.
  const dav = await fetch(`${rig.relay.url}/dav/`, {
    method: 'PROPFIND',
    headers: { depth: '0', authorization: `Basic ${Buffer.from(`Android phone:${token}`).toString('base64')}` },
  });
  assert.equal(dav.status, 207);
});

it('"safe to free up space" lists what reached Google Photos', async () => {
  const phone = new Client(rig.relay.url, (await deviceToken())!);
  for (let i = 0; i < 3; i++)
    assert.equal((await phone.upload(jpeg(3000 + i), { deviceAssetId: `native-${i}` }, `NATIVE_${i}.jpg`)).status, 201);
  await waitAllState(rig, accountId, 'backed_up', 30_000, 3);
  await waitFor('three safe', async () => (await page.getByTestId('safe-count').innerText()) === '3', 15_000);
  const list = await page.getByTestId('safe-list').innerText();
  for (let i = 0; i < 3; i++) assert.match(list, new RegExp(`NATIVE_${i}\\.jpg`));
  await shot('phone-app');
});

it('uploads 20 photos and a 50 MB video from the browser; a reload resumes; a second upload sends no bytes', async (t) => {
  assert.ok(await resumableEndpoint(), 'the resumable endpoint answers OPTIONS');
  const dir = await mkdtemp(path.join(tmpdir(), 'web-phone-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const files: string[] = [];
  const shas = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const bytes = jpeg(20_000 + i * 977);
    shas.add(sha256(bytes));
    files.push(path.join(dir, `PHOTO_${String(i).padStart(2, '0')}.jpg`));
    await writeFile(files[i]!, bytes);
  }
  const video = mp4(50 * 1024 * 1024);
  const videoSha = sha256(video);
  files.push(path.join(dir, 'VIDEO.mp4'));
  await writeFile(files[20]!, video);

  const uploads: { method: string; offset: string | undefined }[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/v1/uploads')) uploads.push({ method: r.method(), offset: r.headers()['upload-offset'] });
  });
  // Slow the video's chunks down so the reload lands in its middle.
  await page.route('**/api/v1/uploads/**', async (route) => {
    if (route.request().method() === 'PATCH') await new Promise((r) => setTimeout(r, 400));
    await route.continue();
  });

  await page.reload();
  await page.getByLabel('Choose photos and videos').setInputFiles(files);
  const videoRow = page.locator('ul.files li', { hasText: 'VIDEO.mp4' });
  const videoSent = (bytes: number) =>
    waitFor(
      `video ${bytes} bytes sent`,
      async () => {
        if ((await videoRow.getAttribute('data-state')) !== 'uploading') return false;
        const value = Number(
          await videoRow
            .locator('progress')
            .getAttribute('value', { timeout: 1000 })
            .catch(() => '0'),
        );
        return value >= bytes;
      },
      120_000,
      50,
    );
  await videoSent(8 * 1024 * 1024);
  // Pause: nothing more goes out until Resume.
  await page.getByRole('button', { name: 'Pause' }).click();
  await page
    .getByTestId('upload-summary')
    .filter({ hasText: /^Paused/ })
    .waitFor();
  await new Promise((r) => setTimeout(r, 1000));
  const whilePaused = uploads.length;
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(uploads.length, whilePaused, 'no request while paused');
  await page.getByRole('button', { name: 'Resume' }).click();
  await videoSent(16 * 1024 * 1024);
  await shot('phone-upload');
  await page.reload();
  const patchesBefore = uploads.length;
  await page.getByLabel('Choose photos and videos').setInputFiles(files);
  await waitFor('all done', async () => /^Done: 21 of 21 files/.test(await page.getByTestId('upload-summary').innerText()), 180_000, 200);
  const afterReload = uploads.slice(patchesBefore);
  assert.ok(!afterReload.some((u) => u.method === 'POST'), 'the video was not started over');
  const firstPatch = afterReload.find((u) => u.method === 'PATCH');
  assert.ok(firstPatch && Number(firstPatch.offset) >= 16 * 1024 * 1024, `resumed at ${firstPatch?.offset}`);

  const assets = await waitAllState(rig, accountId, 'backed_up', 120_000, 3 + 21);
  assert.equal(assets.filter((a) => a.sha256 === videoSha).length, 1, 'the video is stored once');
  for (const sha of shas) assert.ok(assets.some((a) => a.sha256 === sha));
  await waitFor('24 safe', async () => (await page.getByTestId('safe-count').innerText()) === '24', 15_000);

  // Again: nothing is sent.
  await page.reload();
  const before = uploads.length;
  await page.getByLabel('Choose photos and videos').setInputFiles(files);
  await waitFor('all known', async () => /^Done: 21 of 21 files/.test(await page.getByTestId('upload-summary').innerText()), 60_000, 200);
  // Only the page's discovery (OPTIONS) on load: no upload created, no byte sent.
  assert.deepEqual(
    uploads.slice(before).filter((u) => u.method !== 'OPTIONS'),
    [],
    'nothing sent to the resumable endpoint',
  );
  assert.equal(await page.locator('ul.files li[data-state=known]').count(), 21);
  assert.equal((await assetsOf(rig, accountId)).length, 24);
});

it('no page errors', () => {
  assert.deepEqual(
    pageErrors.filter((e) => !/40[0-4]|Failed to load resource/.test(e)),
    [],
  );
});
