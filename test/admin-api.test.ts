import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BatchingScheduler } from '../src/ledger/scheduler-batch.ts';
import { Client } from './helpers/client.ts';
import { ADMIN_TOKEN, startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg } from './helpers/media.ts';

let relay: TestRelay;
let admin: Client;
before(async () => {
  relay = await startRelay({ GOOGLE_APP_STATUS: 'testing' });
  admin = new Client(relay.url);
});
after(() => relay.close());

describe('devices', () => {
  it('lists across pages, filters by account, renames and revokes', async () => {
    const a = await admin.createAccount('Ann');
    const b = await admin.createAccount('Ben');
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await admin.pairDevice(a, `a-${i}`)).deviceId);
    const bDevice = await admin.pairDevice(b, 'b-0');

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: any } = await admin.call('GET', `/api/v1/admin/devices?limit=2&accountId=${a}${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(page.status, 200);
      seen.push(...page.body.items.map((d: { id: string }) => d.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    assert.deepEqual(seen, ids);

    const one = await admin.call('GET', `/api/v1/admin/devices/${ids[0]}`);
    assert.deepEqual([one.body.accountId, one.body.bytesReceived, one.body.counts.pending], [a, 0, 0]);
    const renamed = await admin.call('PATCH', `/api/v1/admin/devices/${ids[0]}`, { name: 'Kitchen iPad' });
    assert.equal(renamed.body.name, 'Kitchen iPad');
    assert.equal((await admin.call('PATCH', `/api/v1/admin/devices/${ids[0]}`, { name: '' })).body.code, 'validation_failed');

    assert.equal((await bDevice.call('GET', '/api/v1/device')).status, 200);
    assert.equal((await admin.call('DELETE', `/api/v1/admin/devices/${bDevice.deviceId}`)).status, 204);
    assert.equal((await bDevice.call('GET', '/api/v1/device')).status, 401);
    assert.ok((await admin.call('GET', `/api/v1/admin/devices/${bDevice.deviceId}`)).body.revokedAt);
    assert.equal((await admin.call('GET', '/api/v1/admin/devices/00000000-0000-7000-8000-000000000000')).body.code, 'not_found');
    assert.equal((await bDevice.call('GET', '/api/v1/admin/devices')).status, 401);
  });
});

describe('assets and retry', () => {
  it('filters assets by state, account and device; retries failed ones, scheduling their upload jobs', async () => {
    const accountId = await admin.createAccount('Cy');
    const phone = await admin.pairDevice(accountId);
    const first = (await phone.upload(jpeg())).body.id;
    const second = (await phone.upload(jpeg())).body.id;
    await relay.services.db.delivery.updateMany({ where: { accountId }, data: { state: 'failed', lastError: 'Google refused the item (code 3)' } });
    // Only a linked account's deliveries are scheduled; no worker runs here, so scheduled jobs stay in the queue to be
    // seen. A failed delivery has no job (the upload's jobs, never run here, are removed as a finished one would be).
    await relay.services.db.account.update({ where: { id: accountId }, data: { googleStatus: 'linked', googleEmail: 'cy@example.com' } });
    const deliveries = await relay.services.db.delivery.findMany({ where: { accountId }, orderBy: { id: 'asc' }, select: { id: true } });
    const uploads = relay.services.queues.uploads;
    // The uploads' job hints leave after their answers: let them land before removing them.
    await (relay.services.scheduler as BatchingScheduler).settled();
    for (const { id } of deliveries) await uploads.remove(id);
    const jobOf = async (deliveryId: string) => (await uploads.getJob(deliveryId))?.data.deliveryId ?? null;
    assert.deepEqual(await Promise.all(deliveries.map((d) => jobOf(d.id))), [null, null]);

    const failed = await admin.call('GET', `/api/v1/admin/assets?state=failed&accountId=${accountId}`);
    assert.deepEqual(failed.body.items.map((a: { id: string }) => a.id), [first, second]);
    assert.equal(failed.body.items[0].lastError, 'Google refused the item (code 3)');
    const byDevice = await admin.call('GET', `/api/v1/admin/assets?deviceId=${phone.deviceId}&limit=1`);
    assert.equal(byDevice.body.items.length, 1);
    assert.ok(byDevice.body.nextCursor);

    const retried = await admin.call('POST', `/api/v1/admin/assets/${first}/retry`);
    assert.deepEqual([retried.status, retried.body.state], [200, 'pending']);
    assert.deepEqual(await Promise.all(deliveries.map((d) => jobOf(d.id))), [deliveries[0]!.id, null], 'the retried delivery, and only it, has an upload job');
    const notFailed = await admin.call('POST', `/api/v1/admin/assets/${first}/retry`);
    assert.deepEqual([notFailed.status, notFailed.body.code], [409, 'conflict']);
    const all = await admin.call('POST', '/api/v1/admin/assets/retry', { accountId });
    assert.deepEqual(all.body, { retried: 1 });
    assert.deepEqual(await Promise.all(deliveries.map((d) => jobOf(d.id))), deliveries.map((d) => d.id), 'retry-all scheduled the other one');
    assert.equal((await admin.call('GET', `/api/v1/admin/assets?state=failed&accountId=${accountId}`)).body.items.length, 0);
    assert.equal((await admin.call('POST', '/api/v1/admin/assets/retry', { accountId: '00000000-0000-7000-8000-000000000000' })).status, 404);
  });
});

describe('accounts', () => {
  it('pauses and resumes forwarding; deletes only when nothing is pending and no device remains', async () => {
    const accountId = await admin.createAccount('Dee');
    const phone = await admin.pairDevice(accountId);
    await phone.upload(jpeg());
    const paused = await admin.call('PATCH', `/api/v1/admin/accounts/${accountId}`, { forwarding: 'paused', name: 'Dee B.' });
    assert.deepEqual([paused.body.forwarding, paused.body.name, paused.body.counts.paused], ['paused', 'Dee B.', 1]);
    assert.equal((await admin.call('PATCH', `/api/v1/admin/accounts/${accountId}`, { forwarding: 'sideways' })).status, 400);

    const busy = await admin.call('DELETE', `/api/v1/admin/accounts/${accountId}`);
    assert.deepEqual([busy.status, busy.body.code], [409, 'conflict']);
    await admin.call('DELETE', `/api/v1/admin/devices/${phone.deviceId}`);
    const undelivered = await admin.call('DELETE', `/api/v1/admin/accounts/${accountId}`);
    assert.equal(undelivered.status, 409);
    assert.match(undelivered.body.message, /not in Google Photos/);
    await relay.services.db.delivery.updateMany({ where: { accountId }, data: { state: 'backed_up', backedUpAt: new Date(), mediaItemId: 'm' } });
    assert.equal((await admin.call('DELETE', `/api/v1/admin/accounts/${accountId}`)).status, 204);
    assert.equal((await admin.call('GET', `/api/v1/admin/accounts/${accountId}`)).status, 404);
  });

  it('flags a link that Google will expire (Testing app, linked 6+ days ago) and a link that failed', async () => {
    const accountId = await admin.createAccount('Eli');
    await relay.services.db.account.update({
      where: { id: accountId },
      data: { googleStatus: 'linked', googleLinkedAt: new Date(Date.now() - 6.5 * 86_400_000), googleEmail: 'eli@example.com' },
    });
    const expiring = await admin.call('GET', `/api/v1/admin/accounts/${accountId}`);
    assert.equal(expiring.body.google.health, 'expiring');
    assert.match(expiring.body.google.warning, /Testing/);
    const status = await admin.call('GET', '/api/v1/admin/status');
    assert.equal(status.body.accounts.find((a: { id: string }) => a.id === accountId).tokenHealth, 'expiring');

    await relay.services.db.account.update({ where: { id: accountId }, data: { googleStatus: 'needs_reauth', googleError: 'invalid_grant' } });
    const failed = await admin.call('GET', `/api/v1/admin/accounts/${accountId}`);
    assert.deepEqual([failed.body.google.status, failed.body.google.health], ['needs_reauth', 'failed']);
  });
});

describe('queue board', () => {
  it('is reachable only with the admin token, as Basic password or bearer', async () => {
    const url = `${relay.url}/admin/queues`;
    const anonymous = await fetch(url);
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic/);
    const wrong = await fetch(url, { headers: { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` } });
    assert.equal(wrong.status, 401);
    const basic = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64')}` } });
    assert.equal(basic.status, 200);
    assert.match(await basic.text(), /<html/i);
    // The board answers from a Fastify instance of its own: the app's security headers still reach the page.
    assert.equal(basic.headers.get('x-content-type-options'), 'nosniff');
    const api = await fetch(`${url}/api/queues`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(api.status, 200);
    const queues = ((await api.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort();
    assert.deepEqual(queues, ['forward-create', 'forward-upload']);
  });

  it('takes actions with a body, and answers unknown paths in the contract\'s shape', async () => {
    const url = `${relay.url}/admin/queues/api/queues/forward-upload`;
    const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
    // The board reads the body itself: a catch-all route in front of it that consumed it would leave it waiting.
    const pause = await fetch(`${url}/pause`, { method: 'PUT', headers, body: '{}', signal: AbortSignal.timeout(10_000) });
    assert.equal(pause.status, 200);
    assert.equal(await relay.services.queues.uploads.isPaused(), true);
    const resume = await fetch(`${url}/resume`, { method: 'PUT', headers, body: '{}', signal: AbortSignal.timeout(10_000) });
    assert.equal(resume.status, 200);
    assert.equal(await relay.services.queues.uploads.isPaused(), false);
    const unknown = await fetch(`${relay.url}/admin/queues/no/such/page`, { method: 'POST', headers, body: '{}' });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { code: string }).code, 'not_found');
    const anonymous = await fetch(`${url}/pause`, { method: 'PUT', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(anonymous.status, 401);
    assert.equal(await relay.services.queues.uploads.isPaused(), false);
  });
});

it('answers with security headers', async () => {
  const res = await fetch(`${relay.url}/healthz`);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(res.headers.get('x-frame-options'), 'SAMEORIGIN');
});
