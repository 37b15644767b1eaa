import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRig, type Rig } from './helpers/rig.ts';
import { startRelay } from './helpers/harness.ts';
import { Client } from './helpers/client.ts';
import { freePort } from './helpers/child.ts';
import { account, uniqueEmail } from './helpers/forwarding.ts';
import { newId } from '../src/db/ids.ts';

// Finding 8 of issue 10: the OAuth state is the account's only one and single use, the code is bound to the
// relay by PKCE, and a consent by another Google account never silently replaces a link.

let rig: Rig;
before(async () => {
  rig = await startRig({ worker: false });
});
after(() => rig.close());

async function authorize(accountId: string, body?: unknown): Promise<string> {
  const res = await rig.admin.call('POST', `/api/v1/admin/accounts/${accountId}/google/authorize`, body);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.authUrl;
}

/** Walk the emulator's consent screen as `email`; returns where Google sends the browser. */
async function consent(authUrl: string, email: string): Promise<URL> {
  await rig.control('POST', '/emulator/consent', { email });
  const res = await fetch(authUrl, { redirect: 'manual' });
  assert.equal(res.status, 302);
  return new URL(res.headers.get('location')!);
}

const callback = (redirect: URL) => fetch(`${rig.relay.url}${redirect.pathname}${redirect.search}`);
const stored = (id: string) => rig.relay.services.db.account.findUniqueOrThrow({ where: { id } });

describe('OAuth state', () => {
  it('a state is single use: the same redirect a second time is refused and changes nothing', async () => {
    const id = await rig.admin.createAccount('Reuse');
    const email = uniqueEmail('reuse');
    const redirect = await consent(await authorize(id), email);
    assert.equal((await callback(redirect)).status, 200);
    const before = await stored(id);
    const replay = await callback(redirect);
    assert.equal(replay.status, 400);
    assert.equal((await replay.json()).code, 'validation_failed');
    const after = await stored(id);
    assert.deepEqual(after.googleRefreshToken, before.googleRefreshToken);
    assert.equal(after.googleEmail, email);
  });

  it('a new authorize voids the earlier state: its redirect is refused, the new one links', async () => {
    const id = await rig.admin.createAccount('Twice');
    const email = uniqueEmail('twice');
    const first = await consent(await authorize(id), email);
    const second = await consent(await authorize(id), email);
    const stale = await callback(first);
    assert.equal(stale.status, 400);
    assert.match((await stale.json()).message, /start the link again/);
    assert.equal((await account(rig, id)).google.status, 'unlinked');
    assert.equal((await callback(second)).status, 200);
    assert.equal((await account(rig, id)).google.status, 'linked');
    assert.equal(await rig.relay.services.db.oAuthState.count({ where: { accountId: id } }), 1, 'one state row per account');
  });
});

describe('PKCE', () => {
  it('the consent URL carries an S256 challenge, and the code is worthless at the token endpoint without the relay\'s verifier', async () => {
    const id = await rig.admin.createAccount('Pkce');
    const authUrl = new URL(await authorize(id));
    assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');
    assert.match(authUrl.searchParams.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    const redirect = await consent(authUrl.toString(), uniqueEmail('pkce'));
    // Someone who caught the redirect (code and state) and holds the client's credentials still cannot redeem it.
    const stolen = await fetch(`${rig.emulator.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: redirect.searchParams.get('code')!,
        redirect_uri: `${rig.relay.config.publicUrl}/oauth/google/callback`,
        client_id: 'photo-relay-demo',
        client_secret: 'demo-secret',
      }),
    });
    assert.equal(stolen.status, 400);
    assert.equal((await stolen.json()).error, 'invalid_grant');
    // The relay, which kept the verifier, redeems the same code.
    assert.equal((await callback(redirect)).status, 200);
    assert.equal((await account(rig, id)).google.status, 'linked');
  });

  it('the verifier is kept sealed in the state row, not in clear', async () => {
    const id = await rig.admin.createAccount('Sealed');
    await authorize(id);
    const row = await rig.relay.services.db.oAuthState.findFirstOrThrow({ where: { accountId: id } });
    const bytes = Buffer.from(row.codeVerifier);
    assert.ok(bytes.length > 43 + 16, 'iv, tag and ciphertext');
    assert.doesNotMatch(bytes.toString('latin1'), /[A-Za-z0-9_-]{43}/, 'no verifier in clear');
  });
});

describe('re-linking to another Google account', () => {
  it('a consent by another Google account is a 409 and the link stays; with replace: true (at authorize) it moves', async () => {
    const id = await rig.admin.createAccount('Mover');
    const first = uniqueEmail('mover');
    assert.equal((await callback(await consent(await authorize(id), first))).status, 200);
    const linked = await stored(id);

    const other = uniqueEmail('mover-other');
    const refused = await callback(await consent(await authorize(id), other));
    assert.equal(refused.status, 409);
    const body = await refused.json();
    assert.equal(body.code, 'conflict');
    assert.match(body.message, /replace/);
    const kept = await stored(id);
    assert.equal(kept.googleEmail, first);
    assert.equal(kept.googleStatus, 'linked');
    assert.deepEqual(kept.googleRefreshToken, linked.googleRefreshToken, 'the refresh token is unchanged');
    const grants = (await rig.control('GET', '/emulator/oauth/grants')).grants.filter((g: { email: string }) => g.email === other);
    assert.ok(grants.length === 1 && grants[0].revoked, 'the unused new grant was given back to Google');

    // The same Google account again needs no replace.
    assert.equal((await callback(await consent(await authorize(id), first))).status, 200);

    assert.equal((await callback(await consent(await authorize(id, { replace: true }), other))).status, 200);
    assert.equal((await stored(id)).googleEmail, other);
  });

  it('a pasted redirect of another Google account: 409 without replace, linked with replace: true in the complete body', async () => {
    const id = await rig.admin.createAccount('Paster');
    const first = uniqueEmail('paster');
    assert.equal((await callback(await consent(await authorize(id), first))).status, 200);
    const other = uniqueEmail('paster-other');
    const refused = await rig.admin.call('POST', `/api/v1/admin/accounts/${id}/google/complete`, {
      redirectUrl: (await consent(await authorize(id), other)).toString(),
    });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.code, 'conflict');
    assert.equal((await stored(id)).googleEmail, first);
    const replaced = await rig.admin.call('POST', `/api/v1/admin/accounts/${id}/google/complete`, {
      redirectUrl: (await consent(await authorize(id), other)).toString(),
      replace: true,
    });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.equal(replaced.body.google.email, other);
  });

  it('every link records the OAuth client that made it', async () => {
    const id = await rig.admin.createAccount('Recorded');
    assert.equal((await callback(await consent(await authorize(id), uniqueEmail('recorded')))).status, 200);
    assert.equal((await stored(id)).googleClientId, 'photo-relay-demo');
  });
});

describe('demo mode', () => {
  it('does not link an account it did not create (409), so a real account never lands in the emulator', async () => {
    const relay = await startRelay({ GOOGLE_CLIENT_ID: '', GOOGLE_CLIENT_SECRET: '', DEMO_EMULATOR_PORT: String(await freePort()) });
    try {
      assert.equal(relay.config.demoMode, true);
      const id = newId();
      await relay.services.db.account.create({ data: { id, name: 'Made outside demo mode' } });
      const res = await new Client(relay.url).call('POST', `/api/v1/admin/accounts/${id}/google/authorize`);
      assert.equal(res.status, 409);
      assert.equal(res.body.code, 'conflict');
      assert.match(res.body.message, /GOOGLE_CLIENT_ID/);
      assert.equal(await relay.services.db.oAuthState.count(), 0);
    } finally {
      await relay.close();
    }
  });
});
