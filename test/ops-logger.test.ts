import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, logFormat } from '../src/ops/logger.ts';
import { Client } from './helpers/client.ts';
import { LogCapture, startLoggedRelay } from './helpers/logged-relay.ts';

/**
 * Issue 10, finding 13: the log keeps what an operator needs (error codes: ENOSPC, ECONNREFUSED, P2002) and never
 * a secret (authorization headers, tokens, pairing codes, refresh tokens, passwords, cookies, OAuth codes).
 */

const SECRETS = {
  bearer: 'prd_bearer-secret-0123456789',
  token: 'token-secret-0123456789',
  refresh: 'refresh-secret-0123456789',
  clientSecret: 'client-secret-0123456789',
  pairing: 'PAIRC-ODESX',
  password: 'password-secret-0123456789',
  cookie: 'session=cookie-secret-0123456789',
  oauthCode: 'oauth-code-secret-0123456789',
};

function assertNoSecrets(text: string): void {
  for (const [name, secret] of Object.entries(SECRETS)) assert.ok(!text.includes(secret), `${name} leaked into the log: ${text}`);
}

describe('logger', () => {
  it('keeps error codes, including nested and Prisma ones, and redacts secrets wherever they sit', () => {
    const log = new LogCapture();
    const logger = createLogger('info', log.stream);
    for (const code of ['ENOSPC', 'ECONNREFUSED', 'P2002']) {
      const err = Object.assign(new Error(`failed with ${code}`), { code });
      logger.error({ err }, 'operation failed');
    }
    // An HTTP client's error, as google-auth-library's carry: the request with its credentials rides along.
    const httpError = Object.assign(new Error(`token refresh failed at https://example.test/cb?code=${SECRETS.oauthCode}&x=1`), {
      code: 'ECONNRESET',
      config: {
        headers: { Authorization: `Bearer ${SECRETS.bearer}`, Cookie: SECRETS.cookie },
        data: `grant_type=refresh_token&refresh_token=${SECRETS.refresh}&client_secret=${SECRETS.clientSecret}`,
        body: { refresh_token: SECRETS.refresh, client_secret: SECRETS.clientSecret },
      },
      cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    });
    logger.warn({ err: httpError }, 'google call failed');
    logger.info(
      {
        token: SECRETS.token,
        body: { pairingCode: SECRETS.pairing, password: SECRETS.password, refreshToken: SECRETS.refresh },
        headers: { authorization: `Bearer ${SECRETS.bearer}`, cookie: SECRETS.cookie },
        code: 'not_ready',
      },
      'with secrets',
    );

    const text = log.raw.join('\n');
    assertNoSecrets(text);
    const entries = log.entries;
    assert.deepEqual(
      entries.filter((e) => e.msg === 'operation failed').map((e) => e.err.code),
      ['ENOSPC', 'ECONNREFUSED', 'P2002'],
    );
    const google = entries.find((e) => e.msg === 'google call failed')!;
    assert.equal(google.err.code, 'ECONNRESET');
    assert.equal(google.err.cause?.code ?? google.err.cause, 'ECONNRESET');
    assert.match(google.err.config.data, /grant_type=refresh_token/, 'non-secret parts stay readable');
    assert.equal(entries.find((e) => e.msg === 'with secrets')!.code, 'not_ready', 'an error code field is never redacted');
  });

  it('a request through the relay logs no credentials, and its rejection keeps its code', async () => {
    const relay = await startLoggedRelay({}, { level: 'info' });
    try {
      const anonymous = new Client(relay.url, '');
      await anonymous.call('GET', '/api/v1/device', undefined, { authorization: `Bearer ${SECRETS.bearer}`, cookie: SECRETS.cookie });
      await anonymous.call('POST', '/api/v1/pair', { code: SECRETS.pairing, name: 'x', platform: 'ios' });
      await fetch(`${relay.url}/oauth/google/callback?code=${SECRETS.oauthCode}&state=${SECRETS.token}`);
      const text = relay.log.raw.join('\n');
      assertNoSecrets(text);
      const rejected = relay.log.entries.filter((e) => e.msg === 'request rejected').map((e) => e.code);
      assert.ok(rejected.includes('unauthorized'), `codes in the log: ${JSON.stringify(rejected)}`);
      assert.ok(rejected.includes('not_found') || rejected.includes('validation_failed'), JSON.stringify(rejected));
    } finally {
      await relay.close();
    }
  });
});

describe('log format', () => {
  it('pretty only at a terminal where pino-pretty is installed; JSON otherwise', () => {
    assert.equal(logFormat({ isTTY: true, prettyAvailable: true }), 'pretty');
    assert.equal(logFormat({ isTTY: true, prettyAvailable: false }), 'json', 'a production image without dev dependencies');
    assert.equal(logFormat({ isTTY: false, prettyAvailable: true }), 'json', 'a pipe, Docker, systemd');
    assert.equal(logFormat({ isTTY: undefined, prettyAvailable: true }), 'json', 'stdout is not a stream with isTTY');
  });
});
