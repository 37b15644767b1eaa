import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jpeg, mp4, png, sha256 } from './helpers/media.ts';
import { ncClient, prop, PROPFIND_NEXTCLOUDCMD, request, responses, type NcResponse } from './helpers/nextcloud.ts';
import { startRig, type Rig } from './helpers/rig.ts';

/**
 * The Android and iOS Nextcloud apps' request sequences (as read from the apps' source, nextcloud/android and nextcloud/ios; README "Nextcloud apps") replayed over HTTP against
 * the relay: discovery, QR login, user info and capabilities in both OCS versions, simple and chunked uploads in
 * each app's dialect, and Login Flow v2 with both poll styles. Each answer the apps depend on is asserted.
 */

let rig: Rig;
let accountId: string;
let base: string;
type Device = { deviceId: string; token: string; accountId: string; nextcloudLoginUrl: string };

async function newDevice(name: string): Promise<Device> {
  const res = await rig.admin.call('POST', `/api/v1/admin/accounts/${accountId}/devices`, { name, platform: 'nextcloud' });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

/** What the app reads from the QR code, per the iOS app's positional parse. */
function parseQr(url: string): { user: string; password: string; server: string } {
  const m = /^nc:\/\/login\/user:([^&]*)&password:([^&]*)&server:(.*)$/.exec(url);
  assert.ok(m, `QR URL in the order user, password, server: ${url}`);
  return { user: m[1]!, password: m[2]!, server: m[3]! };
}

const db = () => rig.relay.services.db;
const assetsOf = (deviceId: string) => db().asset.findMany({ where: { deviceId }, orderBy: { createdAt: 'asc' } });

function assertUploadAnswer(res: NcResponse, content: Buffer): void {
  assert.ok(res.status === 201 || res.status === 204, `${res.status} ${res.text}`);
  assert.equal(res.headers.etag, `"${sha256(content)}"`);
  assert.equal(res.headers['oc-etag'], `"${sha256(content)}"`);
  assert.match(String(res.headers['oc-fileid']), /^\d{8,}[a-z]+$/);
}

before(async () => {
  rig = await startRig();
  accountId = await rig.admin.createAccount('Family');
  await rig.link(accountId, 'family@example.com');
  base = rig.relay.url;
});
after(async () => {
  await rig?.close();
});

describe('discovery and login', () => {
  it('status.php: installed, not in maintenance, version 31+, product name Photo Relay', async () => {
    const res = await request(base, 'GET', '/status.php');
    assert.equal(res.status, 200);
    assert.equal(res.json.installed, true);
    assert.equal(res.json.maintenance, false);
    assert.ok(Number(res.json.version.split('.')[0]) >= 31);
    assert.equal(res.json.productname, 'Photo Relay');
  });

  it('an unauthenticated HEAD /remote.php/dav is 401 with a Basic challenge', async () => {
    const res = await request(base, 'HEAD', '/remote.php/dav');
    assert.equal(res.status, 401);
    assert.match(String(res.headers['www-authenticate']), /^Basic /);
    assert.equal((await request(base, 'OPTIONS', '/remote.php/dav/')).status, 200);
  });

  it('the admin creates a device and gets its QR login URL: user, password, server in that order, URL-safe', async () => {
    const dev = await newDevice('Mum’s iPhone 15 (Pro)');
    const qr = parseQr(dev.nextcloudLoginUrl);
    assert.match(qr.user, /^[a-z0-9-]+$/);
    assert.equal(qr.user, 'mum-s-iphone-15-pro');
    assert.match(qr.password, /^[A-Za-z0-9_-]+$/);
    assert.equal(qr.password, dev.token);
    assert.equal(qr.server, rig.relay.config.publicUrl);
    assert.equal(dev.accountId, accountId);
    // The device is a device like any other: its token works on the native API.
    const me = await request(base, 'GET', '/api/v1/devices/me', { authorization: `Bearer ${dev.token}` });
    assert.notEqual(me.status, 401);
  });

  it('cloud/user and cloud/capabilities in both OCS versions, JSON by format=json or by Accept', async () => {
    const dev = await newDevice('Pixel');
    const { user, password } = parseQr(dev.nextcloudLoginUrl);
    const nc = ncClient(base, user, password);
    // Android: v2 with format=json and OCS-APIRequest.
    const v2 = await nc('GET', '/ocs/v2.php/cloud/user?format=json', { 'ocs-apirequest': 'true' });
    assert.equal(v2.status, 200);
    assert.equal(v2.json.ocs.meta.statuscode, 200);
    assert.equal(v2.json.ocs.data.id, dev.deviceId);
    // iOS: v2 by Accept, no format.
    const ios = await nc('GET', '/ocs/v2.php/cloud/user', { accept: 'application/json' });
    assert.equal(ios.json.ocs.meta.statuscode, 200);
    assert.equal(ios.json.ocs.data.id, dev.deviceId);
    // nextcloudcmd: v1, statuscode 100.
    const v1 = await nc('GET', '/ocs/v1.php/cloud/user?format=json');
    assert.equal(v1.json.ocs.meta.statuscode, 100);
    for (const version of [1, 2]) {
      const caps = await nc('GET', `/ocs/v${version}.php/cloud/capabilities?format=json`);
      assert.equal(caps.status, 200);
      const { meta, data } = caps.json.ocs;
      assert.equal(meta.status, 'ok');
      assert.equal(typeof meta.message, 'string');
      assert.equal(meta.statuscode, version === 1 ? 100 : 200);
      for (const field of ['major', 'minor', 'micro', 'string', 'edition']) assert.ok(field in data.version, field);
      assert.ok(data.version.major >= 31);
      assert.equal(data.capabilities.dav.chunking, '1.0');
      assert.deepEqual(data.capabilities.checksums.supportedTypes, ['SHA256']);
      assert.equal(data.capabilities.files.bigfilechunking, true);
    }
    // XML when JSON is not asked for.
    const xml = await nc('GET', '/ocs/v1.php/cloud/capabilities');
    assert.match(xml.text, /<statuscode>100<\/statuscode>/);
  });

  it('wipe/check never says wipe', async () => {
    const dev = await newDevice('Wiped?');
    const res = await request(
      base,
      'POST',
      '/index.php/core/wipe/check',
      { 'content-type': 'application/x-www-form-urlencoded' },
      `token=${dev.token}`,
    );
    assert.equal(res.status, 200);
    assert.equal(res.json.wipe, false);
  });
});

describe('the Android app', () => {
  let dev: Device;
  let nc: ReturnType<typeof ncClient>;
  let files: string;
  before(async () => {
    dev = await newDevice('Pixel 8');
    const { user, password } = parseQr(dev.nextcloudLoginUrl);
    nc = ncClient(base, user, password);
    const me = await nc('GET', '/ocs/v2.php/cloud/user?format=json', { 'ocs-apirequest': 'true' });
    files = `/remote.php/dav/files/${me.json.ocs.data.id}`;
  });

  it('auto upload: HEAD, MKCOL, PROPFIND, HEAD, PUT with integer mtime and ctime, PROPFIND of the file', async () => {
    assert.equal((await nc('HEAD', `${files}/InstantUpload/Camera`)).status, 404);
    assert.equal((await nc('MKCOL', `${files}/InstantUpload`)).status, 201);
    assert.equal((await nc('MKCOL', `${files}/InstantUpload/Camera`)).status, 201);
    assert.equal((await nc('HEAD', `${files}/InstantUpload/Camera`)).status, 200);
    const listing = await nc('PROPFIND', `${files}/InstantUpload/Camera`, { depth: '1' });
    assert.equal(listing.status, 207);
    assert.equal((await nc('HEAD', `${files}/InstantUpload/Camera/IMG_1.jpg`)).status, 404);
    const photo = jpeg(5000);
    const put = await nc(
      'PUT',
      `${files}/InstantUpload/Camera/IMG_1.jpg`,
      { 'oc-total-length': String(photo.length), 'x-oc-mtime': '1717243300', 'x-oc-ctime': '1717243200' },
      photo,
    );
    assertUploadAnswer(put, photo);
    assert.equal(put.status, 201);
    assert.equal(put.headers['x-oc-mtime'], 'accepted');
    const [asset] = await assetsOf(dev.deviceId);
    assert.equal(asset!.blobSha256, sha256(photo));
    assert.equal(asset!.fileCreatedAt?.toISOString(), '2024-06-01T12:00:00.000Z', 'X-OC-Ctime is when the photo was taken');

    const one = await nc('PROPFIND', `${files}/InstantUpload/Camera/IMG_1.jpg`, { depth: '0' }, PROPFIND_NEXTCLOUDCMD);
    assert.equal(one.status, 207);
    const [entry] = responses(one.text);
    assert.equal(entry!.href, `${files}/InstantUpload/Camera/IMG_1.jpg`);
    assert.equal(prop(entry!.body, 'd:getetag'), `"${sha256(photo)}"`);
    assert.equal(prop(entry!.body, 'oc:id'), put.headers['oc-fileid']);
    assert.match(prop(entry!.body, 'oc:fileid')!, /^\d+$/);
    assert.match(prop(entry!.body, 'oc:permissions')!, /D/);
    assert.equal(prop(entry!.body, 'oc:size'), String(photo.length));
    assert.equal(prop(entry!.body, 'd:getcontentlength'), String(photo.length));
    assert.equal(prop(entry!.body, 'd:getlastmodified'), new Date(1717243300_000).toUTCString());
    assert.match(prop(entry!.body, 'nc:creation_time')!, /^\d+$/);
    assert.match(entry!.body, /<x:made-up-property xmlns:x="http:\/\/nextcloud.org\/ns"\/>[\s\S]*404 Not Found/);
  });

  it('the same content under a name already listed is idempotent: no conflict, no second asset, same ETag', async () => {
    const before = await assetsOf(dev.deviceId);
    const listing1 = await nc('PROPFIND', `${files}/InstantUpload/Camera`, { depth: '1' }, PROPFIND_NEXTCLOUDCMD);
    const photo = await rig.relay.services.blobs.open(before[0]!.blobSha256).toArray();
    const again = await nc('PUT', `${files}/InstantUpload/Camera/IMG_1.jpg`, { 'x-oc-mtime': '1717243300' }, Buffer.concat(photo));
    assert.equal(again.status, 204);
    assert.equal((await assetsOf(dev.deviceId)).length, before.length);
    const listing2 = await nc('PROPFIND', `${files}/InstantUpload/Camera`, { depth: '1' }, PROPFIND_NEXTCLOUDCMD);
    const etags = (x: string) => responses(x).map((r) => `${r.href} ${prop(r.body, 'd:getetag')} ${prop(r.body, 'oc:id')}`);
    assert.deepEqual(etags(listing2.text).slice(1), etags(listing1.text).slice(1), 'file entries keep their ETags and ids');
  });

  it('chunked upload: MKCOL with Destination, PROPFIND to resume, 6-digit chunks, MOVE with an absolute Destination', async () => {
    const video = mp4(3 * 1024 * 1024 + 123);
    const folder = `/remote.php/dav/uploads/${dev.deviceId}/${sha256(video).slice(0, 32)}`;
    const dest = `${base}${files}/InstantUpload/Camera/VID_1.mp4`;
    assert.equal((await nc('MKCOL', folder, { destination: dest })).status, 201);
    const empty = await nc('PROPFIND', `${folder}/`, { depth: '1' });
    assert.equal(empty.status, 207);
    assert.equal(responses(empty.text).length, 1);
    const size = 1024 * 1024;
    const parts = [video.subarray(0, size), video.subarray(size, 2 * size), video.subarray(2 * size)];
    assert.equal((await nc('PUT', `${folder}/000001`, { destination: dest }, parts[0])).status, 201);
    assert.equal((await nc('PUT', `${folder}/000002`, { destination: dest }, parts[1])).status, 201);
    // The app was stopped here; on resume it lists what the relay holds and sends only the rest.
    const resumed = await nc('PROPFIND', folder, { depth: '1' });
    const chunks = responses(resumed.text).slice(1);
    assert.deepEqual(
      chunks.map((c) => [c.href.split('/').pop(), prop(c.body, 'd:getcontentlength')]),
      [
        ['000001', String(size)],
        ['000002', String(size)],
      ],
    );
    assert.equal((await nc('PUT', `${folder}/000003`, { destination: dest }, parts[2])).status, 201);
    const move = await nc('MOVE', `${folder}/.file`, {
      destination: dest,
      overwrite: 'T',
      'x-oc-mtime': '1717243400',
      'x-oc-ctime': '1717243400',
    });
    assertUploadAnswer(move, video);
    assert.equal(move.status, 201);
    const asset = (await assetsOf(dev.deviceId)).find((a) => a.blobSha256 === sha256(video));
    assert.ok(asset, 'the assembled file is an asset');
    assert.equal(asset.fileName, 'VID_1.mp4');
    assert.equal((await nc('PROPFIND', folder, { depth: '0' })).status, 404, 'the upload folder is gone');
  });

  it('DELETE edits the view only: the asset stays', async () => {
    const before = await assetsOf(dev.deviceId);
    assert.equal((await nc('DELETE', `${files}/InstantUpload/Camera/VID_1.mp4`)).status, 204);
    assert.equal((await nc('HEAD', `${files}/InstantUpload/Camera/VID_1.mp4`)).status, 404);
    assert.equal((await assetsOf(dev.deviceId)).length, before.length);
  });

  it('one tree: /dav/ and /remote.php/webdav/ show what the Nextcloud door stored', async () => {
    const viaDav = await request(base, 'PROPFIND', '/dav/InstantUpload/Camera/', {
      authorization: `Basic ${Buffer.from(`x:${dev.token}`).toString('base64')}`,
      depth: '1',
    });
    assert.ok(responses(viaDav.text).some((r) => r.href === '/dav/InstantUpload/Camera/IMG_1.jpg'));
    const legacy = await nc('PROPFIND', '/remote.php/webdav/InstantUpload/Camera/', { depth: '1' });
    assert.ok(responses(legacy.text).some((r) => r.href === '/remote.php/webdav/InstantUpload/Camera/IMG_1.jpg'));
  });
});

describe('the iOS app', () => {
  let dev: Device;
  let nc: ReturnType<typeof ncClient>;
  let files: string;
  before(async () => {
    dev = await newDevice('iPhone');
    const { user, password } = parseQr(dev.nextcloudLoginUrl);
    nc = ncClient(base, user, password);
    const me = await nc('GET', '/ocs/v2.php/cloud/user', { accept: 'application/json' });
    files = `/remote.php/dav/files/${me.json.ocs.data.id}`;
    const caps = await nc('GET', '/ocs/v1.php/cloud/capabilities', { accept: 'application/json' });
    assert.ok(caps.json.ocs.data.version.string && caps.json.ocs.data.capabilities);
  });

  it('PUT with X-NC-WebDAV-Auto-Mkcol and decimal mtimes into Photos/2024/06', async () => {
    const photo = png(6000);
    const put = await nc(
      'PUT',
      `${files}/Photos/2024/06/IMG_0001.png`,
      {
        'content-type': 'application/octet-stream',
        'x-nc-webdav-auto-mkcol': '1',
        'x-oc-mtime': '1717243200.0',
        'x-oc-ctime': '1717243200.5',
        overwrite: 'T',
      },
      photo,
    );
    assertUploadAnswer(put, photo);
    const [asset] = await assetsOf(dev.deviceId);
    assert.equal(asset!.fileCreatedAt?.toISOString(), '2024-06-01T12:00:00.000Z');
    assert.equal((await nc('HEAD', `${files}/Photos/2024/06`)).status, 200);
  });

  it('chunked upload: PROPFIND Depth 0 (404), MKCOL, chunks 1..11 ordered numerically, MOVE', async () => {
    const video = mp4(11 * 100_000);
    const folder = `/remote.php/dav/uploads/${dev.deviceId}/6F9619FF-8B86-D011-B42D-00C04FC964FF`;
    const dest = `${base}${files}/Photos/2024/06/VID_0002.mp4`;
    assert.equal((await nc('PROPFIND', folder, { depth: '0' })).status, 404);
    assert.equal((await nc('MKCOL', folder, { destination: dest, 'oc-total-length': String(video.length) })).status, 201);
    // Sent out of order, named 1..11: "10" and "11" sort after "9" only numerically.
    for (const i of [3, 1, 2, 11, 4, 5, 6, 7, 8, 9, 10]) {
      const part = video.subarray((i - 1) * 100_000, i * 100_000);
      const res = await nc('PUT', `${folder}/${i}`, { destination: dest, 'oc-total-length': String(video.length) }, part);
      assert.equal(res.status, 201, res.text);
    }
    const move = await nc('MOVE', `${folder}/.file`, { destination: dest, overwrite: 'T', 'x-oc-mtime': '1717243500.0' });
    assertUploadAnswer(move, video);
    assert.ok((await assetsOf(dev.deviceId)).some((a) => a.blobSha256 === sha256(video)));
  });
});

describe('Login Flow v2', () => {
  async function pairingCode(): Promise<string> {
    const res = await rig.admin.call('POST', `/api/v1/admin/accounts/${accountId}/pairings`);
    return res.body.code;
  }

  for (const style of ['form', 'query'] as const) {
    it(`end to end, polling with the token ${style === 'form' ? 'as a form field (Android)' : 'in the query string (iOS)'}`, async () => {
      const start = await request(base, 'POST', '/index.php/login/v2', { 'user-agent': 'Nextcloud-android' });
      assert.equal(start.status, 200);
      const { poll, login } = start.json;
      assert.ok(poll.token && poll.endpoint && login);
      const endpoint = new URL(poll.endpoint).pathname;
      const doPoll = () =>
        style === 'form'
          ? request(
              base,
              'POST',
              endpoint,
              { 'content-type': 'application/x-www-form-urlencoded' },
              `token=${encodeURIComponent(poll.token)}`,
            )
          : request(base, 'POST', `${endpoint}?token=${encodeURIComponent(poll.token)}`);
      assert.equal((await doPoll()).status, 404, 'not done yet');
      const loginPath = new URL(login).pathname + new URL(login).search;
      const page = await request(base, 'GET', loginPath);
      assert.equal(page.status, 200);
      assert.match(page.text, /<form/);
      // A wrong code is refused on the page; the flow goes on.
      const wrong = await request(
        base,
        'POST',
        loginPath,
        { 'content-type': 'application/x-www-form-urlencoded' },
        'code=AAAAA-AAAAA&name=Phone',
      );
      assert.equal(wrong.status, 404);
      assert.equal((await doPoll()).status, 404);
      const code = await pairingCode();
      const ok = await request(
        base,
        'POST',
        loginPath,
        { 'content-type': 'application/x-www-form-urlencoded' },
        `code=${code}&name=${style}+phone`,
      );
      assert.equal(ok.status, 200, ok.text);
      const done = await doPoll();
      assert.equal(done.status, 200);
      assert.equal(done.json.server, rig.relay.config.publicUrl);
      assert.equal(done.json.loginName, `${style}-phone`);
      assert.match(done.json.appPassword, /^prd_/);
      assert.equal((await doPoll()).status, 404, 'answered once, then never again');
      // The app password is a device token of the account.
      const me = await ncClient(base, done.json.loginName, done.json.appPassword)('GET', '/ocs/v2.php/cloud/user?format=json');
      assert.equal(me.status, 200);
      const device = await db().device.findUniqueOrThrow({ where: { id: me.json.ocs.data.id } });
      assert.equal(device.accountId, accountId);
      // The poll token is not kept in the clear.
      const keys = await rig.relay.services.redis.keys(`${rig.relay.config.redisPrefix}:nc-login:*`);
      for (const key of keys) {
        assert.ok(!key.includes(poll.token));
        assert.ok(!String(await rig.relay.services.redis.get(key)).includes(poll.token));
      }
    });
  }
});
