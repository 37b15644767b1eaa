import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  classifyHttpError,
  classifyItemStatus,
  classifyNetworkError,
  classifyTokenError,
  GoogleError,
  MIN_RATE_LIMIT_WAIT_MS,
  parseErrorBody,
  rateLimitWaitMs,
  type Outcome,
} from '../src/google/outcomes.ts';
import { classifyOAuthError } from '../src/google/oauth.ts';
import { backoffMs, jittered } from '../src/forwarding/backoff.ts';
import { TokenCipher } from '../src/google/token-cipher.ts';

const envelope = (code: number, message: string, status: string) => JSON.stringify({ error: { code, message, status } });
const noHeaders = new Headers();

/** Every error answer Google's Photos Library API documents, as Google (or the emulator) words it, and what the relay must do. */
const HTTP_CASES: { what: string; status: number; body: string; headers?: Record<string, string>; outcome: Outcome; retryAfterMs?: number }[] = [
  {
    what: 'daily project quota',
    status: 429,
    body: envelope(429, "Quota exceeded for quota metric 'All requests' and limit 'All requests per day' of service 'photoslibrary.googleapis.com' for consumer 'project_number:1'.", 'RESOURCE_EXHAUSTED'),
    outcome: 'quota_exhausted',
  },
  {
    what: 'per-user write requests per minute',
    status: 429,
    body: envelope(429, "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user' of service 'photoslibrary.googleapis.com'.", 'RESOURCE_EXHAUSTED'),
    outcome: 'rate_limited',
  },
  {
    what: 'per-user concurrent write requests',
    status: 429,
    body: envelope(429, "Quota exceeded for quota metric 'Concurrent write requests' and limit 'Concurrent write requests per user'.", 'RESOURCE_EXHAUSTED'),
    outcome: 'rate_limited',
  },
  { what: '429 without Retry-After', status: 429, body: envelope(429, 'Resource has been exhausted (e.g. check quota).', 'RESOURCE_EXHAUSTED'), outcome: 'rate_limited' },
  {
    what: '429 with Retry-After in seconds',
    status: 429,
    body: envelope(429, 'Resource has been exhausted (e.g. check quota).', 'RESOURCE_EXHAUSTED'),
    headers: { 'retry-after': '120' },
    outcome: 'rate_limited',
    retryAfterMs: 120_000,
  },
  {
    what: '429 with Retry-After as an HTTP date',
    status: 429,
    body: envelope(429, 'Resource has been exhausted (e.g. check quota).', 'RESOURCE_EXHAUSTED'),
    headers: { 'retry-after': new Date(1_700_000_090_000).toUTCString() },
    outcome: 'rate_limited',
    retryAfterMs: 90_000,
  },
  { what: 'expired access token', status: 401, body: envelope(401, 'Request had invalid authentication credentials.', 'UNAUTHENTICATED'), outcome: 'unauthenticated' },
  { what: 'missing scope', status: 403, body: envelope(403, 'Request had insufficient authentication scopes.', 'PERMISSION_DENIED'), outcome: 'reauth' },
  { what: 'API disabled', status: 403, body: envelope(403, 'Photos Library API has not been used in project 1 before or it is disabled.', 'PERMISSION_DENIED'), outcome: 'reauth' },
  { what: 'more than 50 items', status: 400, body: envelope(400, 'Request must have less than 50 items.', 'INVALID_ARGUMENT'), outcome: 'permanent' },
  { what: 'invalid or expired upload token (whole request)', status: 400, body: envelope(400, 'Request must contain a valid upload token.', 'INVALID_ARGUMENT'), outcome: 'reupload' },
  { what: 'unsupported format, envelope', status: 400, body: envelope(400, 'Failed: the uploaded bytes are not a supported photo or video format.', 'INVALID_ARGUMENT'), outcome: 'permanent' },
  { what: 'unsupported format, bare upload error', status: 400, body: JSON.stringify({ code: 3, message: 'Failed: the uploaded bytes are not a supported photo or video format.' }), outcome: 'permanent' },
  { what: 'too large', status: 400, body: JSON.stringify({ code: 3, message: 'The photo is larger than the maximum of 200000000 bytes.' }), outcome: 'permanent' },
  { what: 'internal error', status: 500, body: envelope(500, 'Internal error encountered.', 'INTERNAL'), outcome: 'transient' },
  { what: '502 with an HTML page', status: 502, body: '<!DOCTYPE html><html><title>Error 502 (Server Error)!!1</title></html>', outcome: 'transient' },
  { what: 'unavailable', status: 503, body: envelope(503, 'The service is currently unavailable.', 'UNAVAILABLE'), outcome: 'transient' },
  { what: 'deadline exceeded', status: 504, body: '', outcome: 'transient' },
];

describe('the outcome table (src/google/outcomes.ts)', () => {
  for (const c of HTTP_CASES) {
    it(`${c.status} ${c.what} → ${c.outcome}`, () => {
      const err = classifyHttpError(c.status, c.body, new Headers(c.headers ?? {}), 1_700_000_000_000);
      assert.ok(err instanceof GoogleError);
      assert.equal(err.outcome, c.outcome);
      assert.equal(err.details.status, c.status);
      assert.equal(err.details.retryAfterMs, c.retryAfterMs);
      assert.doesNotMatch(err.message, /\[object Object\]/);
    });
  }

  it('a 429 waits at least 30 s, longer when Retry-After says so', () => {
    assert.equal(MIN_RATE_LIMIT_WAIT_MS, 30_000);
    const bare = classifyHttpError(429, envelope(429, 'Resource has been exhausted.', 'RESOURCE_EXHAUSTED'), noHeaders);
    assert.equal(rateLimitWaitMs(bare), 30_000);
    const short = classifyHttpError(429, '', new Headers({ 'retry-after': '5' }));
    assert.equal(rateLimitWaitMs(short), 30_000, 'a Retry-After shorter than Google\'s 30 s minimum does not shorten it');
    const long = classifyHttpError(429, '', new Headers({ 'retry-after': '95' }));
    assert.equal(rateLimitWaitMs(long), 95_000);
    assert.equal(rateLimitWaitMs(bare, 300), 300, 'the minimum is configurable (tests shorten it)');
    const junk = classifyHttpError(429, '', new Headers({ 'retry-after': 'soon' }));
    assert.equal(junk.details.retryAfterMs, undefined);
  });

  it('error bodies: the envelope, the bare upload form, OAuth errors and plain text all yield a message', () => {
    assert.deepEqual(parseErrorBody(envelope(400, 'bad', 'INVALID_ARGUMENT')), { message: 'bad', status: 'INVALID_ARGUMENT' });
    assert.deepEqual(parseErrorBody(JSON.stringify({ code: 3, message: 'bare' })), { message: 'bare' });
    assert.deepEqual(parseErrorBody(JSON.stringify({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' })), {
      message: 'Token has been expired or revoked.',
      status: 'invalid_grant',
    });
    assert.equal(parseErrorBody('<html>502</html>').message, '<html>502</html>');
    assert.equal(parseErrorBody('').message, '(empty body)');
  });

  it('token endpoint: invalid_grant (revoked or expired refresh token) → reauth; 429 → rate_limited; 5xx → transient', () => {
    const revoked = classifyTokenError(400, JSON.stringify({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' }));
    assert.equal(revoked.outcome, 'reauth');
    assert.match(revoked.message, /expired or revoked/);
    assert.equal(classifyTokenError(401, JSON.stringify({ error: 'invalid_client', error_description: 'Unauthorized' })).outcome, 'reauth');
    assert.equal(classifyTokenError(429, JSON.stringify({ error: 'rate_limit_exceeded', error_description: 'Rate Limit Exceeded' })).outcome, 'rate_limited');
    assert.equal(classifyTokenError(500, JSON.stringify({ error: 'internal_failure', error_description: 'Backend Error' })).outcome, 'transient');
    assert.equal(classifyTokenError(502, '<html>').outcome, 'transient');
  });

  it('the OAuth client\'s errors (gaxios shape) and network failures are classified the same way', () => {
    const gaxios = Object.assign(new Error('invalid_grant'), { response: { status: 400, data: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } } });
    assert.equal(classifyOAuthError(gaxios).outcome, 'reauth');
    const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    assert.equal(classifyOAuthError(down).outcome, 'transient');
    const mine = new GoogleError('reupload', 'x');
    assert.equal(classifyOAuthError(mine), mine);
  });

  it('network failures without an answer are transient', () => {
    const fetchFailed = Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
    assert.equal(classifyNetworkError(fetchFailed).outcome, 'transient');
    assert.match(classifyNetworkError(fetchFailed).message, /UND_ERR_SOCKET/);
    assert.equal(classifyNetworkError(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })).outcome, 'transient');
    assert.equal(classifyNetworkError(new DOMException('The operation was aborted due to timeout', 'TimeoutError')).outcome, 'transient');
  });

  it('per-item batchCreate statuses: omitted/0 with an item → created; 6 → created; 3 → permanent; 13 → transient; bad token → reupload', () => {
    assert.deepEqual(classifyItemStatus(undefined, 'Success', 'item-1'), { kind: 'created', mediaItemId: 'item-1' });
    assert.deepEqual(classifyItemStatus(0, 'Success', 'item-1'), { kind: 'created', mediaItemId: 'item-1' });
    // ALREADY_EXISTS: success without an id.
    assert.deepEqual(classifyItemStatus(6, 'The media item already exists in the library.', undefined), { kind: 'created', mediaItemId: null });
    assert.deepEqual(classifyItemStatus(6, 'exists', 'item-2'), { kind: 'created', mediaItemId: 'item-2' });
    const outcome = (code: number | undefined, message?: string, id?: string) => {
      const o = classifyItemStatus(code, message, id);
      return o.kind === 'created' ? 'created' : o.error.outcome;
    };
    assert.equal(outcome(3, 'Failed: There was an error while trying to create this media item.'), 'permanent');
    assert.equal(outcome(3, 'Request must contain a valid upload token.'), 'reupload');
    assert.equal(outcome(13, 'Internal error encountered.'), 'transient');
    assert.equal(outcome(14, 'The service is currently unavailable.'), 'transient');
    assert.equal(outcome(8, 'Resource has been exhausted.'), 'transient');
    assert.equal(outcome(7, 'Permission denied.'), 'permanent');
    assert.equal(outcome(undefined, 'Success', undefined), 'transient', 'success without a media item is not a success');
    const failed = classifyItemStatus(3, 'Failed: bad media', undefined);
    assert.ok(failed.kind === 'error');
    assert.match(failed.error.message, /code 3.*Failed: bad media/, 'the reason reaches lastError');
  });
});

describe('backoff (src/forwarding/backoff.ts)', () => {
  it('starts at 1 s, doubles per attempt, jitters within each step, and is capped', () => {
    assert.equal(backoffMs(1, () => 0), 1000, 'the first retry waits at least 1 s (Google\'s advice)');
    assert.equal(backoffMs(1, () => 1), 2000);
    assert.equal(backoffMs(2, () => 0), 2000);
    assert.equal(backoffMs(3, () => 0), 4000);
    assert.equal(backoffMs(0, () => 0), 1000, 'attempt 0 is treated as the first');
    for (let attempt = 1; attempt < 12; attempt++) {
      assert.ok(backoffMs(attempt + 1, () => 0) >= backoffMs(attempt, () => 0) * 2 || backoffMs(attempt + 1, () => 0) === 15 * 60_000);
    }
    assert.equal(backoffMs(40, () => 1), 30 * 60_000, 'capped at 30 minutes');
    assert.equal(backoffMs(10_000, () => 1), 30 * 60_000, 'no overflow to Infinity');
    assert.ok(Number.isFinite(backoffMs(10_000)));
  });

  it('spreads retries (no synchronised retry storm)', () => {
    const waits = new Set(Array.from({ length: 50 }, () => backoffMs(4)));
    assert.ok(waits.size > 10, `only ${waits.size} distinct waits`);
    for (const w of waits) assert.ok(w >= 8000 && w <= 16_000, `${w}`);
  });

  it('a wait Google imposed is never shortened, only lengthened by up to 20%', () => {
    assert.equal(jittered(30_000, () => 0), 30_000);
    assert.equal(jittered(30_000, () => 1), 36_000);
    for (let i = 0; i < 50; i++) {
      const w = jittered(1000);
      assert.ok(w >= 1000 && w <= 1200);
    }
  });
});

describe('refresh tokens at rest (src/google/token-cipher.ts)', () => {
  const key = Buffer.alloc(32, 9);
  const cipher = new TokenCipher(key);
  const account = '0191e2a4-0000-7000-8000-000000000001';
  const other = '0191e2a4-0000-7000-8000-000000000002';
  const token = '1//0gRefreshTokenFromGoogle-abcdefghijklmnopqrstuvwxyz';

  it('round-trips, and never stores the plaintext', () => {
    const sealed = cipher.seal(token, account);
    assert.equal(cipher.open(sealed, account), token);
    assert.ok(!sealed.includes(Buffer.from(token)));
    assert.notDeepEqual(cipher.seal(token, account), sealed, 'a fresh IV per seal');
  });

  it('a tampered byte anywhere (version, IV, tag, ciphertext) fails to open', () => {
    const sealed = cipher.seal(token, account);
    for (const index of [0, 1, 12, 13, 28, 29, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[index] = bad[index]! ^ 0x01;
      assert.throws(() => cipher.open(bad, account), Error, `byte ${index} flipped`);
    }
    assert.throws(() => cipher.open(sealed.subarray(0, sealed.length - 1), account), Error, 'truncated');
  });

  it('a token copied onto another account\'s row, or opened with another key, fails', () => {
    const sealed = cipher.seal(token, account);
    assert.throws(() => cipher.open(sealed, other));
    assert.throws(() => new TokenCipher(Buffer.alloc(32, 8)).open(sealed, account));
  });

  it('refuses a key of the wrong length', () => {
    assert.throws(() => new TokenCipher(Buffer.alloc(16)));
  });
});
