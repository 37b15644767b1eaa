import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from './helpers/client.ts';
import { startLoggedRelay, type LogCapture } from './helpers/logged-relay.ts';
import type { TestRelay } from './helpers/harness.ts';

/**
 * Issue 10, finding 4: the failure limiter counts failures only and never refuses a token that validates, so wrong
 * guesses from an address (a neighbour behind the same NAT, everyone behind a proxy without TRUST_PROXY) cannot
 * lock the household's valid device and admin tokens out.
 */

const MAX_FAILURES = 5;
let relay: TestRelay & { log: LogCapture };
let admin: Client;

before(async () => {
  relay = await startLoggedRelay({ AUTH_MAX_FAILURES: String(MAX_FAILURES) });
  admin = new Client(relay.url);
});
after(() => relay?.close());

const basic = (token: string) => `Basic ${Buffer.from(`phone:${token}`).toString('base64')}`;

describe('failure limiter', () => {
  it('a valid device or admin token is accepted after 20 bad guesses from its address; bad guesses get 429', async () => {
    const accountId = await admin.createAccount('Nat');
    const phone = await admin.pairDevice(accountId);

    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const guess = i % 2 === 0 ? admin.as(`prd_wrong-${i}`) : admin.as(`not-the-admin-token-${i}`);
      statuses.push((await guess.call('GET', i % 2 === 0 ? '/api/v1/device' : '/api/v1/admin/accounts')).status);
    }
    assert.deepEqual(statuses, [...Array(MAX_FAILURES).fill(401), ...Array(20 - MAX_FAILURES).fill(429)], 'failures are still limited');

    const device = await phone.call('GET', '/api/v1/device');
    assert.equal(device.status, 200, `device token refused after others' guesses: ${JSON.stringify(device.body)}`);
    const accounts = await admin.call('GET', '/api/v1/admin/accounts');
    assert.equal(accounts.status, 200, `admin token refused after others' guesses: ${JSON.stringify(accounts.body)}`);
    const dav = await fetch(`${relay.url}/dav/`, { method: 'PROPFIND', headers: { authorization: basic(phone.token), depth: '0' } });
    assert.equal(dav.status, 207, 'WebDAV with a valid device token');

    // Successes did not reset or bypass anything for the guesser: the next wrong token is still refused.
    const again = await admin.as('prd_still-wrong').call('GET', '/api/v1/device');
    assert.deepEqual([again.status, again.body.code], [429, 'rate_limited']);
    const davGuess = await fetch(`${relay.url}/dav/`, { method: 'PROPFIND', headers: { authorization: basic('prd_nope'), depth: '0' } });
    assert.equal(davGuess.status, 429);
  });

  it('warns once when X-Forwarded-For arrives and TRUST_PROXY is unset', async () => {
    const before = relay.log.withMessage(/X-Forwarded-For/).length;
    assert.equal(before, 0, 'no warning before any forwarded request');
    for (let i = 0; i < 3; i++) {
      await fetch(`${relay.url}/healthz`, { headers: { 'x-forwarded-for': `203.0.113.${i}` } });
    }
    const warnings = relay.log.withMessage(/X-Forwarded-For/);
    assert.equal(warnings.length, 1, 'exactly one warning');
    assert.equal(warnings[0]!.level, 40);
    assert.match(warnings[0]!.msg, /TRUST_PROXY/);
  });

  it('says nothing about X-Forwarded-For when TRUST_PROXY is set', async () => {
    const trusting = await startLoggedRelay({ TRUST_PROXY: 'true' });
    try {
      await fetch(`${trusting.url}/healthz`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
      assert.equal(trusting.log.withMessage(/X-Forwarded-For/).length, 0);
    } finally {
      await trusting.close();
    }
  });
});
