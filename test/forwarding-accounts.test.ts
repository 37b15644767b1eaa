import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';
import { jpeg } from './helpers/media.ts';
import {
  account,
  assertDeliveredExactlyOnce,
  assetOf,
  faults,
  library,
  member,
  photosRequests,
  send,
  stats,
  uniqueEmail,
  waitAllState,
  waitAssetState,
  watchStats,
} from './helpers/forwarding.ts';

const APPEND = 'https://www.googleapis.com/auth/photoslibrary.appendonly';
const READ = 'https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata';

let rig: Rig;
before(async () => {
  rig = await startRig();
});
after(() => rig.close());

/** Nothing reaches Google's Photos API for `ms` (a few reconcile rounds). */
async function assertQuiet(ms = 2500): Promise<void> {
  const frozen = photosRequests(await stats(rig));
  for (const s of await watchStats(rig, ms, 50)) assert.equal(photosRequests(s), frozen, 'a request reached Google for a held account');
}

/** Start a link and walk the consent screen; returns the URL Google redirects the browser to. */
async function consent(accountId: string, email: string, plan: Record<string, unknown> = {}): Promise<URL> {
  await rig.control('POST', '/emulator/consent', { email, ...plan });
  const authorize = await rig.admin.call('POST', `/api/v1/admin/accounts/${accountId}/google/authorize`);
  assert.equal(authorize.status, 200);
  const res = await fetch(authorize.body.authUrl, { redirect: 'manual' });
  assert.equal(res.status, 302);
  return new URL(res.headers.get('location')!);
}

const callback = (redirect: URL) => fetch(`${rig.relay.url}${redirect.pathname}${redirect.search}`);

describe('pause and resume', () => {
  it('a paused account holds its deliveries (state paused, nothing sent); resuming sends them', async () => {
    const m = await member(rig, 'Paused');
    const patched = await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.forwarding, 'paused');
    const ids = [await send(m.phone, jpeg(5000)), await send(m.phone, jpeg(5100)), await send(m.phone, jpeg(5200))];
    await assertQuiet();
    for (const id of ids) assert.equal((await assetOf(rig, id)).state, 'paused');
    assert.equal((await m.phone.call('GET', `/api/v1/assets/${ids[0]}`)).body.state, 'paused', 'the phone sees it too');
    const view = await account(rig, m.accountId);
    assert.equal(view.counts.paused, 3);
    const status = await rig.admin.call('GET', '/api/v1/admin/status');
    const mine = status.body.accounts.find((a: { id: string }) => a.id === m.accountId);
    assert.equal(mine.held, 'forwarding paused');
    assert.equal(mine.backlog, 3);
    assert.equal(mine.etaSeconds, null);
    assert.equal((await library(rig, m.email)).length, 0);

    const resumed = await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });
    assert.equal(resumed.body.forwarding, 'active');
    await waitAllState(rig, m.accountId, 'backed_up', 15_000, 3);
    await assertDeliveredExactlyOnce(rig, m);
  });

  it('pausing while forwarding: what is not yet sent waits; resuming finishes it, each item once', async () => {
    const m = await member(rig, 'PausedMidway');
    await faults(rig, { endpoint: 'upload', times: 20, fault: { kind: 'latency', ms: 150 }, match: { email: m.email } });
    for (let i = 0; i < 12; i++) await send(m.phone, jpeg(5000 + i));
    await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'paused' });
    // Requests already under way may finish; after that, silence.
    await new Promise((r) => setTimeout(r, 600));
    await assertQuiet(2000);
    const view = await account(rig, m.accountId);
    assert.ok(view.counts.paused > 0, 'something was still waiting when paused');
    await rig.admin.call('PATCH', `/api/v1/admin/accounts/${m.accountId}`, { forwarding: 'active' });
    await waitAllState(rig, m.accountId, 'backed_up', 20_000, 12);
    await assertDeliveredExactlyOnce(rig, m);
  });
});

describe('unlink and re-link', () => {
  it('unlink revokes at Google; assets wait in needs_reauth and nothing is sent; re-linking delivers them', async () => {
    const m = await member(rig, 'Unlinked');
    const first = await send(m.phone, jpeg(5000));
    await waitAssetState(rig, first, 'backed_up');

    const res = await rig.admin.call('DELETE', `/api/v1/admin/accounts/${m.accountId}/google`);
    assert.equal(res.status, 204);
    const view = await account(rig, m.accountId);
    assert.equal(view.google.status, 'unlinked');
    assert.equal(view.google.email, undefined);
    const grants = (await rig.control('GET', '/emulator/oauth/grants')).grants.filter((g: { email: string }) => g.email === m.email);
    assert.ok(grants.length > 0 && grants.every((g: { revoked: boolean }) => g.revoked), 'the grant was revoked at Google');
    const stored = await rig.relay.services.db.account.findUniqueOrThrow({ where: { id: m.accountId } });
    assert.equal(stored.googleRefreshToken, null, 'the refresh token is forgotten');

    const held = [await send(m.phone, jpeg(5100)), await send(m.phone, jpeg(5200))];
    await assertQuiet();
    for (const id of held) assert.equal((await assetOf(rig, id)).state, 'needs_reauth');
    assert.equal((await assetOf(rig, first)).state, 'backed_up');

    await rig.link(m.accountId, m.email);
    assert.equal((await account(rig, m.accountId)).google.status, 'linked');
    await waitAllState(rig, m.accountId, 'backed_up', 15_000, 3);
    await assertDeliveredExactlyOnce(rig, m);
  });

  it('unlinked while upload tokens were held, re-linked to another Google user: the items go to the new library', async () => {
    const m = await member(rig, 'Moved');
    // Uploaded, then batchCreate is throttled: the tokens wait in the ledger.
    await faults(rig, { endpoint: 'batchCreate', fault: { kind: '429', retryAfter: 5 }, match: { email: m.email } });
    const ids = [await send(m.phone, jpeg(5000)), await send(m.phone, jpeg(5100))];
    await waitFor('tokens held', async () => {
      const rows = await rig.relay.services.db.delivery.findMany({ where: { accountId: m.accountId } });
      return rows.every((r) => r.uploadToken) && (await stats(rig)).batchCreate.calls[m.email] === 1;
    });
    assert.equal((await rig.admin.call('DELETE', `/api/v1/admin/accounts/${m.accountId}/google`)).status, 204);
    const other = uniqueEmail('moved-to');
    await rig.link(m.accountId, other);
    for (const id of ids) await waitAssetState(rig, id, 'backed_up', 20_000);
    // The old user's upload tokens are worthless to the new one: the bytes went again.
    assert.equal((await library(rig, other)).length, 2);
    assert.equal((await library(rig, m.email)).length, 0);
    await assertDeliveredExactlyOnce(rig, { accountId: m.accountId, email: other });
  });
});

describe('re-link without unlinking', () => {
  it('linking the account to another Google user sends what comes next to the new library, not the old one', async () => {
    const m = await member(rig, 'Switcher');
    const first = await send(m.phone, jpeg(5000));
    await waitAssetState(rig, first, 'backed_up');
    // The admin links the account again, choosing another Google account (saying so: replace); the old grant stays valid at Google.
    const newEmail = uniqueEmail('switched-to');
    await rig.link(m.accountId, newEmail, { replace: true });
    assert.equal((await account(rig, m.accountId)).google.email, newEmail);
    const second = await send(m.phone, jpeg(5100));
    await waitAssetState(rig, second, 'backed_up');
    assert.equal((await library(rig, m.email)).length, 1, 'the old library got nothing after the switch');
    assert.equal((await library(rig, newEmail)).length, 1, 'the new library got the new photo');
  });
});

describe('linking', () => {
  it('authorize asks for offline access to both Photos scopes; the callback links, and its state is single use', async () => {
    const accountId = await rig.admin.createAccount('Linker');
    const email = uniqueEmail('linker');
    await rig.control('POST', '/emulator/consent', { email });
    const authorize = await rig.admin.call('POST', `/api/v1/admin/accounts/${accountId}/google/authorize`);
    const url = new URL(authorize.body.authUrl);
    assert.equal(`${url.origin}${url.pathname}`, `${rig.emulator.url}/o/oauth2/v2/auth`);
    assert.equal(url.searchParams.get('access_type'), 'offline');
    assert.equal(url.searchParams.get('prompt'), 'consent');
    assert.equal(url.searchParams.get('response_type'), 'code');
    const scopes = url.searchParams.get('scope')!.split(' ');
    assert.ok(scopes.includes(APPEND) && scopes.includes(READ), scopes.join(' '));
    assert.ok((url.searchParams.get('state') ?? '').length >= 32, 'an unguessable state');

    const res = await fetch(authorize.body.authUrl, { redirect: 'manual' });
    const redirect = new URL(res.headers.get('location')!);
    const linked = await callback(redirect);
    assert.equal(linked.status, 200);
    assert.match(linked.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await linked.text(), new RegExp(email.replace(/[.+]/g, '\\$&')));
    const view = await account(rig, accountId);
    assert.equal(view.google.status, 'linked');
    assert.equal(view.google.email, email);
    assert.ok(view.google.linkedAt);

    // The same redirect again (a replayed or double-submitted callback) is refused and changes nothing.
    const replay = await callback(redirect);
    assert.equal(replay.status, 400);
    assert.equal((await replay.json()).code, 'validation_failed');
    assert.equal((await account(rig, accountId)).google.status, 'linked');
  });

  it('an expired state is refused', async () => {
    const accountId = await rig.admin.createAccount('Late');
    const redirect = await consent(accountId, uniqueEmail('late'));
    const realClock = rig.relay.services.clock;
    rig.relay.services.clock = () => new Date(Date.now() + 16 * 60_000);
    try {
      const res = await callback(redirect);
      assert.equal(res.status, 400);
    } finally {
      rig.relay.services.clock = realClock;
    }
    assert.equal((await account(rig, accountId)).google.status, 'unlinked');
    // Nor does it work once the clock is back: a refused state is spent only if it was used, and it was not,
    // but it is still the same stale link attempt; a fresh authorize works.
    const fresh = await consent(accountId, uniqueEmail('late2'));
    assert.equal((await callback(fresh)).status, 200);
    assert.equal((await account(rig, accountId)).google.status, 'linked');
  });

  it('completing with the redirect URL pasted from the browser links the account', async () => {
    const accountId = await rig.admin.createAccount('Paster');
    const email = uniqueEmail('paster');
    const redirect = await consent(accountId, email);
    const res = await rig.admin.call('POST', `/api/v1/admin/accounts/${accountId}/google/complete`, { redirectUrl: redirect.toString() });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.google.status, 'linked');
    assert.equal(res.body.google.email, email);
    // Pasting it again fails: the state was used.
    const again = await rig.admin.call('POST', `/api/v1/admin/accounts/${accountId}/google/complete`, { redirectUrl: redirect.toString() });
    assert.equal(again.status, 400);
    // A phone sent through this account now reaches the library.
    const phone = await rig.admin.pairDevice(accountId);
    const id = await send(phone, jpeg(5000));
    await waitAssetState(rig, id, 'backed_up');
    assert.equal((await library(rig, email)).length, 1);
  });

  it('a redirect URL started for one account cannot complete another', async () => {
    const a = await rig.admin.createAccount('Owner');
    const b = await rig.admin.createAccount('Intruder');
    const redirect = await consent(a, uniqueEmail('owner'));
    const res = await rig.admin.call('POST', `/api/v1/admin/accounts/${b}/google/complete`, { redirectUrl: redirect.toString() });
    assert.equal(res.status, 400);
    assert.equal((await account(rig, b)).google.status, 'unlinked');
    assert.equal((await account(rig, a)).google.status, 'unlinked');
  });

  it('a pasted URL that is not a redirect, or carries Google\'s refusal, is a 400', async () => {
    const accountId = await rig.admin.createAccount('Confused');
    for (const redirectUrl of ['not a url', 'http://127.0.0.1:9/oauth/google/callback?foo=bar']) {
      const res = await rig.admin.call('POST', `/api/v1/admin/accounts/${accountId}/google/complete`, { redirectUrl });
      assert.equal(res.status, 400, redirectUrl);
    }
    const denied = await consent(accountId, uniqueEmail('denier'), { deny: true });
    assert.equal(denied.searchParams.get('error'), 'access_denied');
    const res = await rig.admin.call('POST', `/api/v1/admin/accounts/${accountId}/google/complete`, { redirectUrl: denied.toString() });
    assert.equal(res.status, 400);
    assert.match(res.body.message, /access_denied/);
    assert.equal((await account(rig, accountId)).google.status, 'unlinked');
  });

  for (const granted of [[], [APPEND], [READ]]) {
    it(`a consent granting ${granted.length ? granted.map((s) => s.split('.').pop()).join(', ') : 'no Photos scope'} is refused`, async () => {
      const accountId = await rig.admin.createAccount('Stingy');
      const redirect = await consent(accountId, uniqueEmail('stingy'), { grantScopes: granted });
      const res = await callback(redirect);
      assert.equal(res.status, 400);
      assert.match((await res.json()).message, /Photos/);
      const view = await account(rig, accountId);
      assert.equal(view.google.status, 'unlinked');
      const stored = await rig.relay.services.db.account.findUniqueOrThrow({ where: { id: accountId } });
      assert.equal(stored.googleRefreshToken, null);
    });
  }
});
