import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  authorize,
  authUrl,
  CLIENT,
  control,
  decodeJwtPayload,
  emulator,
  form,
  link,
  REDIRECT,
  SCOPES,
  stats,
} from './helpers.ts';

const exchange = (base: string, code: string, extra: Record<string, string> = {}) =>
  fetch(`${base}/token`, form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: CLIENT.id, client_secret: CLIENT.secret, ...extra }));

const refresh = (base: string, refreshToken: string) =>
  fetch(`${base}/token`, form({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLIENT.id, client_secret: CLIENT.secret }));

const listItems = (base: string, token: string) => fetch(`${base}/v1/mediaItems`, { headers: { authorization: `Bearer ${token}` } });

test('code flow: state echo, granted scopes, tokens, id_token with the consenting email', async (t) => {
  const { url } = await emulator(t);
  await control(url, 'POST', 'consent', { email: 'alice@example.com' });
  const q = await authorize(url, { state: 'opaque-123' });
  assert.equal(q.get('state'), 'opaque-123');
  assert.ok(q.get('code'));
  assert.ok(q.get('scope')!.includes(SCOPES.append));

  const res = await exchange(url, q.get('code')!);
  assert.equal(res.status, 200);
  const body = (await res.json()) as Record<string, any>;
  assert.equal(body.token_type, 'Bearer');
  assert.equal(body.expires_in, 3599);
  assert.ok(body.access_token && body.refresh_token);
  assert.ok(body.scope.includes(SCOPES.read));
  const claims = decodeJwtPayload(body.id_token);
  assert.equal(claims.email, 'alice@example.com');
  assert.equal(claims.email_verified, true);
  assert.equal(claims.aud, CLIENT.id);
  assert.equal(claims.iss, 'https://accounts.google.com');
  assert.ok(typeof claims.sub === 'string' && typeof claims.exp === 'number' && typeof claims.iat === 'number');

  assert.equal((await listItems(url, body.access_token)).status, 200);
});

test('login_hint picks the account; default account is user1@example.com', async (t) => {
  const { url } = await emulator(t);
  const hinted = await link(url, { email: 'bob@example.com' });
  assert.equal(decodeJwtPayload(hinted.id_token!).email, 'bob@example.com');
  const plain = await link(url);
  assert.equal(decodeJwtPayload(plain.id_token!).email, 'user1@example.com');
});

test('id_token only with openid, email claim only with the email scope', async (t) => {
  const { url } = await emulator(t);
  const noOpenId = await link(url, { scope: SCOPES.append });
  assert.equal(noOpenId.id_token, undefined);
  const noEmail = await link(url, { scope: `openid ${SCOPES.append}` });
  assert.equal(decodeJwtPayload(noEmail.id_token!).email, undefined);
});

test('authorization codes are single-use and bound to the redirect_uri', async (t) => {
  const { url } = await emulator(t);
  const code = (await authorize(url)).get('code')!;
  const mismatch = await exchange(url, code, { redirect_uri: 'http://127.0.0.1:9999/other' });
  assert.equal(mismatch.status, 400);
  assert.equal(((await mismatch.json()) as any).error, 'redirect_uri_mismatch');
  assert.equal((await exchange(url, code)).status, 200);
  const again = await exchange(url, code);
  assert.equal(again.status, 400);
  assert.equal(((await again.json()) as any).error, 'invalid_grant');
});

test('authorization codes expire after 10 minutes of emulator time', async (t) => {
  const { url } = await emulator(t);
  const code = (await authorize(url)).get('code')!;
  await control(url, 'POST', 'clock', { advanceMs: 10 * 60 * 1000 + 1 });
  assert.equal((await exchange(url, code)).status, 400);
});

test('refresh gives a new access token and no new refresh token; access tokens expire on the clock', async (t) => {
  const { url } = await emulator(t);
  const tokens = await link(url);
  await control(url, 'POST', 'clock', { advanceMs: 3600 * 1000 });
  const expired = await listItems(url, tokens.access_token);
  assert.equal(expired.status, 401);
  assert.equal(((await expired.json()) as any).error.status, 'UNAUTHENTICATED');

  const res = await refresh(url, tokens.refresh_token!);
  assert.equal(res.status, 200);
  const body = (await res.json()) as Record<string, any>;
  assert.notEqual(body.access_token, tokens.access_token);
  assert.equal(body.refresh_token, undefined);
  assert.equal(body.expires_in, 3599);
  assert.equal((await listItems(url, body.access_token)).status, 200);
});

test('revoke kills the refresh token and its access tokens: invalid_grant afterwards', async (t) => {
  const { url } = await emulator(t);
  const tokens = await link(url);
  const revoked = await fetch(`${url}/revoke`, form({ token: tokens.refresh_token! }));
  assert.equal(revoked.status, 200);
  assert.deepEqual(await revoked.json(), {});

  const res = await refresh(url, tokens.refresh_token!);
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
  assert.equal((await listItems(url, tokens.access_token)).status, 401);

  const unknown = await fetch(`${url}/revoke?token=nope`, { method: 'POST' });
  assert.equal(unknown.status, 400);
  assert.equal(((await unknown.json()) as any).error, 'invalid_token');
});

test('revoking the access token (via query) revokes the whole grant', async (t) => {
  const { url } = await emulator(t);
  const tokens = await link(url);
  assert.equal((await fetch(`${url}/revoke?token=${encodeURIComponent(tokens.access_token)}`, { method: 'POST' })).status, 200);
  assert.equal((await refresh(url, tokens.refresh_token!)).status, 400);
});

test('refresh tokens of a Testing-mode project expire after 7 days', async (t) => {
  const { url } = await emulator(t, { refreshTokenTtlMs: 7 * 24 * 3600 * 1000 });
  const tokens = await link(url);
  await control(url, 'POST', 'clock', { advanceMs: 6 * 24 * 3600 * 1000 });
  assert.equal((await refresh(url, tokens.refresh_token!)).status, 200);
  await control(url, 'POST', 'clock', { advanceMs: 2 * 24 * 3600 * 1000 });
  assert.equal((await refresh(url, tokens.refresh_token!)).status, 400);
});

test('client authentication: HTTP Basic works, a wrong secret or unknown client is invalid_client', async (t) => {
  const { url } = await emulator(t);
  const tokens = await link(url);
  const basic = await fetch(`${url}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }).toString(),
  });
  assert.equal(basic.status, 200);

  const wrongSecret = await fetch(`${url}/token`, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: CLIENT.id, client_secret: 'x' }));
  assert.equal(wrongSecret.status, 401);
  assert.equal(((await wrongSecret.json()) as any).error, 'invalid_client');
  const wrongClient = await fetch(`${url}/token`, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: 'other', client_secret: CLIENT.secret }));
  assert.equal(wrongClient.status, 401);
});

test('consent screen rejects bad requests with an error page, never a redirect', async (t) => {
  const { url } = await emulator(t);
  const cases: Record<string, string>[] = [
    { client_id: 'unknown-client' },
    { redirect_uri: '' },
    { response_type: 'token' },
    { response_type: '' },
    { scope: '' },
    { scope: 'https://www.googleapis.com/auth/photoslibrary' }, // retired in March 2025
    { redirect_uri: 'http://192.168.1.10:8080/cb' }, // private IP: Google refuses
    { redirect_uri: 'http://photos.example.com/cb' }, // http only on loopback
  ];
  for (const params of cases) {
    const res = await fetch(authUrl(url, params), { redirect: 'manual' });
    assert.equal(res.status, 400, JSON.stringify(params));
    assert.equal(res.headers.get('location'), null);
    assert.match(await res.text(), /Error 400/);
  }
  const ok = await fetch(authUrl(url, { redirect_uri: 'https://photos.example.com/cb' }), { redirect: 'manual' });
  assert.equal(ok.status, 302);
});

test('no refresh token without access_type=offline, nor on a repeat consent without prompt=consent', async (t) => {
  const { url } = await emulator(t);
  const online = await exchange(url, (await authorize(url, { access_type: '', prompt: '' })).get('code')!);
  assert.equal(((await online.json()) as any).refresh_token, undefined);
  const repeat = await exchange(url, (await authorize(url, { prompt: '' })).get('code')!);
  assert.equal(((await repeat.json()) as any).refresh_token, undefined);
  const forced = await exchange(url, (await authorize(url)).get('code')!);
  assert.ok(((await forced.json()) as any).refresh_token);
});

test('a user can deny consent or untick the Photos scopes', async (t) => {
  const { url } = await emulator(t);
  await control(url, 'POST', 'consent', { deny: true });
  const denied = await authorize(url);
  assert.equal(denied.get('error'), 'access_denied');
  assert.equal(denied.get('state'), 'xyz');

  await control(url, 'POST', 'consent', { grantScopes: [SCOPES.read] });
  const tokens = await link(url);
  assert.ok(!tokens.scope.includes(SCOPES.append));
  const grants = await control(url, 'GET', 'oauth/grants');
  assert.equal(grants.grants.at(-1).scopes.includes(SCOPES.append), false);
});

test('token endpoint requests are counted in stats', async (t) => {
  const { url } = await emulator(t);
  await link(url);
  const s = await stats(url);
  assert.equal(s.requests.token['200'], 1);
  assert.equal(s.requests.auth['302'], 1);
  assert.equal(s.quota.used, 0, 'OAuth calls do not count against the Photos quota');
});

test('PKCE: a code issued with a challenge needs the matching code_verifier', async (t) => {
  const { url } = await emulator(t);
  const verifier = 'a'.repeat(20) + 'B'.repeat(20) + '-._~0123';
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const code = async () => (await authorize(url, { code_challenge: challenge, code_challenge_method: 'S256' })).get('code')!;
  assert.equal((await exchange(url, await code())).status, 400, 'verifier missing');
  assert.equal((await exchange(url, await code(), { code_verifier: `${verifier}x` })).status, 400, 'verifier wrong');
  assert.equal((await exchange(url, await code(), { code_verifier: verifier })).status, 200);
});
