import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg, notMedia } from './helpers/media.ts';

let rig: Rig;
before(async () => {
  rig = await startRig();
});
after(() => rig.close());

async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`${rig.relay.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const series = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

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
