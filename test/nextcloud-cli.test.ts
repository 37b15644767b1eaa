import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from './helpers/client.ts';
import { ADMIN_TOKEN, startRelay, type TestRelay } from './helpers/harness.ts';
import { ncClient } from './helpers/nextcloud.ts';
import { runCli } from './helpers/cli-run.ts';

/**
 * Creating a device for the Nextcloud app: the admin route (contract: POST /api/v1/admin/accounts/:id/devices) and
 * `photo-relay pair <account> --app nextcloud`, whose QR login URL the app scans and whose token then works at once.
 */

let relay: TestRelay;
let admin: Client;
let accountId: string;

before(async () => {
  relay = await startRelay();
  admin = new Client(relay.url, ADMIN_TOKEN);
  accountId = await admin.createAccount('Grandma');
});
after(async () => {
  await relay?.close();
});

const cli = (args: string[]) => runCli(relay.url, args);

describe('devices for the Nextcloud app', () => {
  it('the admin route validates its input and answers the contract', async () => {
    assert.equal((await admin.call('POST', `/api/v1/admin/accounts/${accountId}/devices`, { name: 'x' })).status, 400);
    assert.equal((await admin.call('POST', `/api/v1/admin/accounts/${accountId}/devices`, { name: 'x', platform: 'a/b' })).status, 400);
    const missing = await admin.call('POST', '/api/v1/admin/accounts/01a22dd5-bcb1-7554-892e-690cc598f08f/devices', {
      name: 'x',
      platform: 'ios',
    });
    assert.equal(missing.status, 404);
    const created = await admin.call('POST', `/api/v1/admin/accounts/${accountId}/devices`, { name: 'Tablet', platform: 'android' });
    assert.equal(created.status, 201);
    assert.deepEqual(Object.keys(created.body).sort(), ['accountId', 'deviceId', 'nextcloudLoginUrl', 'token']);
    // Only the token's hash is kept.
    const row = await relay.services.db.device.findUniqueOrThrow({ where: { id: created.body.deviceId } });
    assert.notEqual(row.tokenHash, created.body.token);
    assert.equal(row.platform, 'android');
    // A device token does not work on the admin route.
    const asDevice = await new Client(relay.url, created.body.token).call('POST', `/api/v1/admin/accounts/${accountId}/devices`, {
      name: 'x',
      platform: 'ios',
    });
    assert.equal(asDevice.status, 403);
  });

  it('photo-relay pair --app nextcloud prints the QR code and the login URL, whose token works', async () => {
    const run = await cli(['pair', 'Grandma', '--app', 'nextcloud', '--name', 'Grandma’s Pixel']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /[█▀▄]{10,}/, 'a QR code is drawn');
    const url = run.stdout.match(/^Login URL: (nc:\/\/login\/\S+)$/m)?.[1];
    assert.ok(url, run.stdout);
    const m = /^nc:\/\/login\/user:([a-z0-9-]+)&password:([A-Za-z0-9_-]+)&server:(\S+)$/.exec(url);
    assert.ok(m, url);
    assert.equal(m[1], 'grandma-s-pixel');
    assert.equal(m[3], relay.config.publicUrl);
    const me = await ncClient(relay.url, m[1]!, m[2]!)('GET', '/ocs/v2.php/cloud/user?format=json');
    assert.equal(me.status, 200);
    assert.equal(me.json.ocs.data['display-name'], 'Grandma’s Pixel');
    const unknown = await cli(['pair', 'Grandma', '--app', 'owncloud']);
    assert.notEqual(unknown.code, 0);
  });
});
