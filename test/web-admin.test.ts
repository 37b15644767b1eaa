import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { Client } from './helpers/client.ts';
import { assetOf, faults, uniqueEmail, waitAssetState } from './helpers/forwarding.ts';
import { ADMIN_TOKEN } from './helpers/harness.ts';
import { jpeg } from './helpers/media.ts';
import { waitFor } from './helpers/rig.ts';
import { collectPageErrors, launchChromium, startWebRig, type WebRig, screenshotPath } from './helpers/web.ts';

/** The admin dashboard (/admin) in Chromium, against a running relay, worker and Google Photos emulator. */

let rig: WebRig;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const requestUrls: string[] = [];
const pageErrors: string[] = [];

before(async () => {
  rig = await startWebRig();
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  // Every request of every tab (the consent popup included).
  context.on('request', (r) => requestUrls.push(r.url()));
  page = await context.newPage();
  collectPageErrors(page, pageErrors);
});
after(async () => {
  await browser?.close();
  await rig?.close();
});

const shot = (name: string, p: Page = page) => p.screenshot({ path: screenshotPath(name), fullPage: true });
const card = (name: string) => page.getByTestId(`account-${name}`);

async function signIn(token: string) {
  await page.goto(`${rig.relay.url}/admin`);
  await page.getByLabel('Admin token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

it('serves /admin with a strict Content-Security-Policy and no inline script', async () => {
  const res = await fetch(`${rig.relay.url}/admin`);
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /style-src 'self'(;|$)/);
  assert.match(csp, /img-src 'self' data:/);
  const html = await res.text();
  assert.doesNotMatch(html, /<script>|<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  assert.doesNotMatch(html, /style=/, 'no inline style');
  assert.equal((await fetch(`${rig.relay.url}/web/admin.js`)).status, 200);
});

it('a wrong admin token is refused and shows nothing', async () => {
  await signIn('not-the-admin-token-at-all-0123456789');
  await page.getByRole('alert').filter({ hasText: 'Refused' }).waitFor();
  assert.equal(await page.getByRole('heading', { name: 'Accounts' }).count(), 0);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, 'nothing kept');
  await shot('admin-refused');
});

it('signs in, creates an account and links Google Photos through the consent page in a new tab', async () => {
  await signIn(ADMIN_TOKEN);
  await page.getByRole('heading', { name: 'Accounts' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('photo-relay.admin')), ADMIN_TOKEN, 'held by this tab only');
  assert.equal(await page.evaluate(() => localStorage.length), 0);

  await page.getByLabel('New account').fill('Alice');
  await page.getByRole('button', { name: 'Create account' }).click();
  await card('Alice').waitFor();
  assert.match(await card('Alice').getByTestId('google-status').innerText(), /not linked/);

  const email = uniqueEmail('alice');
  await rig.control('POST', '/emulator/consent', { email });
  const [popup] = await Promise.all([
    context.waitForEvent('page'),
    card('Alice').getByRole('button', { name: 'Link Google Photos' }).click(),
  ]);
  // The emulator's consent approves at once and redirects to the relay's callback, which says so.
  await popup.waitForURL(/\/oauth\/google\/callback/);
  await popup.waitForLoadState();
  await popup.close();
  // The dashboard notices by polling.
  await waitFor(
    'linked on the dashboard',
    async () => /linked \(/.test(await card('Alice').getByTestId('google-status').innerText()),
    15_000,
  );
  assert.match(await card('Alice').getByTestId('google-status').innerText(), new RegExp(email));
});

it('the paste-the-redirect fallback completes a link', async () => {
  await page.getByLabel('New account').fill('Bob');
  await page.getByRole('button', { name: 'Create account' }).click();
  await card('Bob').waitFor();
  // A browser that cannot reach the relay ends on an error page at the callback address: the admin copies it.
  const email = uniqueEmail('bob');
  await rig.control('POST', '/emulator/consent', { email });
  const bob = (await rig.admin.call('GET', '/api/v1/admin/accounts')).body.items.find((a: any) => a.name === 'Bob');
  const { body } = await rig.admin.call('POST', `/api/v1/admin/accounts/${bob.id}/google/authorize`, {});
  const redirect = (await fetch(body.authUrl, { redirect: 'manual' })).headers.get('location')!;
  await card('Bob').getByRole('button', { name: 'Paste the redirect' }).click();
  await card('Bob')
    .getByLabel(/Address the consent ended on/)
    .fill(redirect);
  await card('Bob').getByRole('button', { name: 'Complete the link' }).click();
  await waitFor('Bob linked', async () => /linked \(/.test(await card('Bob').getByTestId('google-status').innerText()), 15_000);
});

let phone: Client & { deviceId: string };
let aliceId: string;

it('pairs a phone: QR code and the code in text; the device shows up', async () => {
  await card('Alice').getByRole('button', { name: 'Pair a phone' }).click();
  const figure = card('Alice').getByTestId('pairing');
  await figure.waitFor();
  const code = (await figure.getByTestId('pairing-code').innerText()).trim();
  assert.ok(code.length >= 6, code);
  // The QR code is drawn (a canvas with dark modules), from the pairing URL.
  const dark = await figure.locator('canvas').evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i]! < 128) n++;
    return n;
  });
  assert.ok(dark > 1000, `QR drawn (${dark} dark pixels)`);
  const href = await figure.getByRole('link').getAttribute('href');
  assert.match(href!, new RegExp(`^${rig.relay.url}/pair\\?code=${code}#for=Alice$`));
  await shot('admin-pair');

  const paired = await new Client(rig.relay.url, '').call('POST', '/api/v1/pair', { code, name: 'Pixel 8', platform: 'android' });
  assert.equal(paired.status, 201);
  aliceId = paired.body.accountId;
  phone = Object.assign(new Client(rig.relay.url, paired.body.token), { deviceId: paired.body.deviceId as string });
  await page.getByTestId('device-Pixel 8').waitFor();
});

it('the Nextcloud app QR', async () => {
  await card('Alice').getByRole('button', { name: 'Nextcloud app QR' }).click();
  await card('Alice').getByTestId('nextcloud-qr').locator('canvas').waitFor();
  // The QR holds a new device's login: it is listed with the others.
  await page.getByTestId("device-Alice's Nextcloud app").waitFor();
  await shot('admin-nextcloud-qr');
});

it('watches the backlog drain to zero', async () => {
  await card('Alice').getByRole('button', { name: 'Pause forwarding' }).click();
  await card('Alice').getByText('forwarding paused').first().waitFor();
  assert.equal((await rig.admin.call('GET', `/api/v1/admin/accounts/${aliceId}`)).body.forwarding, 'paused');
  for (let i = 0; i < 5; i++) {
    const res = await phone.upload(jpeg(4000 + i), { deviceAssetId: `a-${i}` }, `IMG_${i}.jpg`);
    assert.equal(res.status, 201);
  }
  await waitFor('backlog 5 shown', async () => (await card('Alice').getByTestId('backlog').innerText()) === '5', 15_000);
  await shot('admin-dashboard');
  await card('Alice').getByRole('button', { name: 'Resume forwarding' }).click();
  await waitFor('backlog 0 shown', async () => (await card('Alice').getByTestId('backlog').innerText()) === '0', 30_000);
  assert.match(await card('Alice').innerText(), /backed up 5/);
});

it('shows a failure with its reason and retries it', async () => {
  const email = (await rig.admin.call('GET', `/api/v1/admin/accounts/${aliceId}`)).body.google.email;
  // Google refuses the item in batchCreate (status code 3): a permanent failure with a reason.
  await faults(rig, { endpoint: 'batchCreate', fault: { kind: 'itemStatus', code: 3, index: 0 }, match: { email } });
  const res = await phone.upload(jpeg(6100), { deviceAssetId: 'doomed' }, 'DOOMED.jpg');
  const id = res.body.id as string;
  await waitAssetState(rig, id, 'failed', 20_000);
  const failure = page.getByTestId('failure').filter({ hasText: 'DOOMED.jpg' });
  await failure.waitFor({ timeout: 15_000 });
  assert.match(await failure.innerText(), /code 3/);
  await shot('admin-failure');
  await rig.control('DELETE', '/emulator/faults');
  await failure.getByRole('button', { name: 'Retry DOOMED.jpg' }).click();
  await waitAssetState(rig, id, 'backed_up', 20_000);
  await waitFor('failure gone', async () => (await page.getByTestId('failure').count()) === 0, 15_000);
  assert.equal((await assetOf(rig, id)).state, 'backed_up');
});

it('renames and revokes a device', async () => {
  const row = page.getByTestId('device-Pixel 8');
  await row.getByLabel('Name of Pixel 8').fill("Alice's Pixel");
  await row.getByRole('button', { name: 'Rename' }).click();
  const renamed = page.getByTestId("device-Alice's Pixel");
  await renamed.waitFor();
  assert.equal((await rig.admin.call('GET', `/api/v1/admin/devices/${phone.deviceId}`)).body.name, "Alice's Pixel");
  page.once('dialog', (d) => void d.accept());
  await renamed.getByRole('button', { name: 'Revoke' }).click();
  await renamed.getByTestId('revoked').waitFor();
  assert.equal((await phone.call('GET', '/api/v1/device')).status, 401, 'the token stopped working');
  await shot('admin-devices');
});

it('signing out forgets the token', async () => {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Admin token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  await page.reload();
  await page.getByLabel('Admin token').waitFor();
  assert.equal(await page.getByRole('heading', { name: 'Accounts' }).count(), 0);
});

it('the admin token never appeared in a URL or in the relay log; no page errors', async () => {
  assert.ok(requestUrls.length > 20, `saw ${requestUrls.length} requests`);
  for (const url of [...requestUrls, page.url()]) assert.ok(!url.includes(ADMIN_TOKEN), `token in URL ${url}`);
  const log = rig.logs.join('');
  assert.ok(log.length > 1000, 'the log was captured');
  assert.ok(log.includes('/api/v1/admin/status'), 'the dashboard requests are in the log');
  assert.ok(!log.includes(ADMIN_TOKEN), 'the admin token is in the relay log');
  assert.deepEqual(
    pageErrors.filter((e) => !/401|403|Failed to load resource/.test(e)),
    [],
  );
});
