import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from './helpers/client.ts';
import { ADMIN_TOKEN, startRelay } from './helpers/harness.ts';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, notMedia } from './helpers/media.ts';
import { scrape as scrapeMetrics } from './helpers/metrics.ts';

let rig: Rig;
before(async () => {
  // Figures re-read on every scrape here, so this test sees them move at once; the cache has its own test below.
  rig = await startRig({ env: { METRICS_REFRESH_SECONDS: '0' } });
});
after(() => rig.close());

const scrape = (baseUrl = rig.relay.url) => scrapeMetrics(baseUrl);

it('exposes the ingest, forwarding, Google, quota, queue and backlog series, and they move', async () => {
  const accountId = await rig.admin.createAccount('Mia');
  const before = await scrape();
  for (const name of [
    'photo_relay_google_quota_used',
    'photo_relay_google_quota_limit',
    'photo_relay_accounts_needing_reauth',
    `photo_relay_backlog_items{account="${accountId}"}`,
    'photo_relay_queue_depth{queue="upload",state="waiting"}',
  ]) {
    assert.ok(before.has(name), `missing ${name}`);
  }
  assert.equal(before.get('photo_relay_accounts_needing_reauth'), 0);
  // Unlinked and never linked is not "needs re-auth"; a failed link is.
  await rig.relay.services.db.account.update({ where: { id: accountId }, data: { googleStatus: 'needs_reauth' } });
  assert.equal((await scrape()).get('photo_relay_accounts_needing_reauth'), 1);

  await rig.link(accountId, 'mia@example.com');
  const phone = await rig.admin.pairDevice(accountId);
  const photo = jpeg(30_000);
  assert.equal((await phone.upload(photo)).status, 201);
  assert.equal((await phone.upload(photo)).status, 200);
  assert.equal((await phone.upload(notMedia())).status, 415);
  await waitFor('backed up', async () => (await phone.call('GET', '/api/v1/device')).body.counts.backedUp === 1);

  const after = await scrape();
  assert.equal(after.get('photo_relay_uploads_total{outcome="created"}'), 1);
  assert.equal(after.get('photo_relay_uploads_total{outcome="duplicate"}'), 1);
  assert.equal(after.get('photo_relay_uploads_total{outcome="415"}'), 1);
  assert.ok((after.get('photo_relay_upload_bytes_received_total') ?? 0) > 60_000);
  assert.equal(after.get('photo_relay_ingest_duration_seconds_count{outcome="created"}'), 1);
  assert.equal(after.get('photo_relay_google_requests_total{endpoint="upload",status="200"}'), 1);
  assert.equal(after.get('photo_relay_google_requests_total{endpoint="batchCreate",status="200"}'), 1);
  assert.equal(after.get('photo_relay_google_quota_used'), 2);
  assert.equal(after.get('photo_relay_forward_outcomes_total{outcome="uploaded"}'), 1);
  assert.equal(after.get('photo_relay_forward_outcomes_total{outcome="backed_up"}'), 1);
  assert.equal(after.get('photo_relay_deliveries{state="backed_up"}'), 1);
  assert.equal(after.get(`photo_relay_backlog_items{account="${accountId}"}`), 0);
  assert.equal(after.get('photo_relay_accounts_needing_reauth'), 0);
});

describe('access and cost (issue 10, finding 11)', () => {
  it('/metrics takes the admin token, as Bearer or as the Basic password; nothing else', async () => {
    const url = `${rig.relay.url}/metrics`;
    const anonymous = await fetch(url);
    assert.equal(anonymous.status, 401);
    assert.equal((await anonymous.json()).code, 'unauthorized');
    assert.match(anonymous.headers.get('www-authenticate') ?? '', /^Basic /, 'the challenge lets Prometheus and browsers answer with Basic');
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer not-the-admin-token-0123456789abcdef' } })).status, 401);

    const bearer = await fetch(url, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(bearer.status, 200);
    assert.match(await bearer.text(), /photo_relay_uploads_total/);
    const basic = await fetch(url, { headers: { authorization: `Basic ${Buffer.from(`prometheus:${ADMIN_TOKEN}`).toString('base64')}` } });
    assert.equal(basic.status, 200);
    assert.match(await basic.text(), /photo_relay_uploads_total/);
    const wrongBasic = await fetch(url, { headers: { authorization: `Basic ${Buffer.from('prometheus:guess').toString('base64')}` } });
    assert.equal(wrongBasic.status, 401);

    const phone = await rig.admin.pairDevice(await rig.admin.createAccount('Metrics'));
    assert.equal((await fetch(url, { headers: { authorization: `Bearer ${phone.token}` } })).status, 403, 'a device token is not the admin token');
  });

  it('ledger gauges come from a snapshot refreshed per METRICS_REFRESH_SECONDS, not read on every scrape', async () => {
    const relay = await startRelay({ METRICS_REFRESH_SECONDS: '3600' });
    try {
      const admin = new Client(relay.url);
      const first = await admin.createAccount('Before');
      const before = await scrape(relay.url);
      assert.ok(before.has(`photo_relay_backlog_items{account="${first}"}`));
      const second = await admin.createAccount('After');
      // Many scrapes at once, as from several Prometheus servers or someone hammering the endpoint.
      const scrapes = await Promise.all(Array.from({ length: 10 }, () => scrape(relay.url)));
      for (const later of scrapes) {
        assert.ok(later.has(`photo_relay_backlog_items{account="${first}"}`));
        assert.ok(!later.has(`photo_relay_backlog_items{account="${second}"}`), 'the ledger was read again before the snapshot aged');
      }
    } finally {
      await relay.close();
    }
  });
});
