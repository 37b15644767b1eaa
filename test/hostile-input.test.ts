import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from './helpers/client.ts';
import { assertError, assertNoResidue } from './helpers/checks.ts';
import { ADMIN_TOKEN, residue, startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { multipart, type Part, RawConnection, rawRequest, requestHead } from './helpers/raw-http.ts';
import { parseClientDate } from '../src/validation/dates.ts';
import { checkName } from '../src/validation/names.ts';

/** Issue 15's faults 3–7 and the off-contract answers, each as a plain regression test against a real relay. */

let relay: TestRelay;
let admin: Client;
let phone: Client & { deviceId: string };
let accountId: string;

before(async () => {
  relay = await startRelay();
  admin = new Client(relay.url);
  accountId = await admin.createAccount('Hostile input');
  phone = await admin.pairDevice(accountId);
});
after(async () => relay?.close());

const auth = (token: string) => ({ Authorization: `Bearer ${token}` });
const field = (name: string, value: string): Part => ({ name, value });
const file = (bytes: Buffer, filename = 'IMG_1.jpg'): Part => ({ name: 'file', value: bytes, filename, contentType: 'image/jpeg' });

async function uploadParts(parts: Part[]) {
  const { body, contentType } = multipart(parts);
  return rawRequest(relay.url, 'POST', '/api/v1/assets', { ...auth(phone.token), 'Content-Type': contentType }, body);
}

/** Whatever the request does, it leaves no temp file, no blob file and no row behind. */
async function leavesNothing(attack: () => Promise<void>): Promise<void> {
  const before = await residue(relay);
  await attack();
  await assertNoResidue(relay, before);
}

describe('the date parser (src/validation/dates.ts)', () => {
  const iso = (v: string) => parseClientDate(v)?.toISOString() ?? null;

  it('reads RFC 3339 with offsets, HTTP dates and Unix seconds with fractions', () => {
    assert.equal(iso('2024-05-01T10:00:00Z'), '2024-05-01T10:00:00.000Z');
    assert.equal(iso('2024-05-01T10:00:00.123456789+02:00'), '2024-05-01T08:00:00.123Z');
    assert.equal(iso('2024-05-01t10:00:00-0530'), '2024-05-01T15:30:00.000Z');
    assert.equal(iso('2024-05-01'), '2024-05-01T00:00:00.000Z');
    assert.equal(iso('Sun, 06 Nov 1994 08:49:37 GMT'), '1994-11-06T08:49:37.000Z');
    assert.equal(iso('Sunday, 06-Nov-94 08:49:37 GMT'), '1994-11-06T08:49:37.000Z');
    assert.equal(iso('Sun Nov  6 08:49:37 1994'), '1994-11-06T08:49:37.000Z');
    assert.equal(iso('1700000000'), '2023-11-14T22:13:20.000Z');
    assert.equal(iso('1700000000.29'), '2023-11-14T22:13:20.290Z');
    assert.equal(iso('-62135596800'), '0001-01-01T00:00:00.000Z');
    assert.equal(iso('9999-12-31T23:59:59.999Z'), '9999-12-31T23:59:59.999Z');
  });

  it('refuses impossible calendar dates and years outside 1–9999 after the offset', () => {
    for (const v of [
      '2020-02-30',
      '2019-02-29T00:00:00Z',
      '2020-04-31',
      '2020-13-01',
      '2020-01-01T24:00:00Z',
      '2020-01-01T10:60:00Z',
      '2020-01-01T10:00:00+24:00',
      '0000-01-01',
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:00:00+00:01',
      '9999-12-31T23:59:59-23:59',
      '253402300800',
      '-62135596801',
      'Sun, 31 Feb 2021 00:00:00 GMT',
      '1e3',
      'Infinity',
      'yesterday',
      '',
      '2024-05-01T10:00:00Z'.padEnd(80, '0'),
    ]) {
      assert.equal(parseClientDate(v), null, v);
    }
  });

  it('reads a leap second at 23:59 UTC as the last millisecond before it, and refuses second 60 elsewhere', () => {
    assert.equal(iso('2016-12-31T23:59:60Z'), '2016-12-31T23:59:59.999Z');
    assert.equal(iso('2017-01-01T08:59:60+09:00'), '2016-12-31T23:59:59.999Z');
    assert.equal(parseClientDate('2016-12-31T12:00:60Z'), null);
  });
});

describe('the name rule (src/validation/names.ts)', () => {
  it('stores NFC, refuses control, separator and bidi-override characters, lone surrogates and blank names', () => {
    assert.equal(checkName('Jose\u0301'), 'Jos\u00e9');
    for (const bad of ['a\u0000b', 'a\u0007b', 'a\u007fb', 'a\u0085b', 'a\u2028b', 'a\u202eb', 'a\ud800b', '\udc00', '   ', '']) {
      assert.throws(() => checkName(bad), { code: 'validation_failed' }, JSON.stringify(bad));
    }
    assert.throws(() => checkName('x'.repeat(201)), { code: 'validation_failed' });
    assert.equal(checkName('😀'.repeat(200)).length, 400, 'lengths count code points, not UTF-16 units');
  });
});

describe('fault 3: names with NUL or other control characters', () => {
  const bad = ['a\u0000b', 'tab\there', 'bell\u0007', 'lone \ud83d surrogate', 'rtl \u202e override'];

  it('account create and rename: 400 validation_failed, nothing stored', async () => {
    const before = (await admin.call('GET', '/api/v1/admin/accounts')).body.items.length;
    for (const name of bad) {
      assertError(await admin.call('POST', '/api/v1/admin/accounts', { name }), 400, 'validation_failed');
      assertError(await admin.call('PATCH', `/api/v1/admin/accounts/${accountId}`, { name }), 400, 'validation_failed');
    }
    const list = (await admin.call('GET', '/api/v1/admin/accounts')).body.items;
    assert.equal(list.length, before);
    assert.equal(list.find((a: { id: string }) => a.id === accountId).name, 'Hostile input');
  });

  it('device rename: 400 validation_failed, name unchanged', async () => {
    for (const name of bad) {
      assertError(await admin.call('PATCH', `/api/v1/admin/devices/${phone.deviceId}`, { name }), 400, 'validation_failed');
    }
    assert.equal((await admin.call('GET', `/api/v1/admin/devices/${phone.deviceId}`)).body.name, 'Pixel 8');
  });

  it('/api/v1/pair: 400 validation_failed and the code stays usable', async () => {
    const pairing = await admin.call('POST', `/api/v1/admin/accounts/${accountId}/pairings`);
    const anonymous = new Client(relay.url, '');
    for (const name of bad) {
      assertError(
        await anonymous.call('POST', '/api/v1/pair', { code: pairing.body.code, name, platform: 'android' }),
        400,
        'validation_failed',
      );
    }
    const ok = await anonymous.call('POST', '/api/v1/pair', { code: pairing.body.code, name: 'Cafe\u0301 phone', platform: 'android' });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal((await admin.call('GET', `/api/v1/admin/devices/${ok.body.deviceId}`)).body.name, 'Caf\u00e9 phone', 'stored as NFC');
  });

  it('file names and deviceAssetIds with control characters: 400 before any byte is kept', async () => {
    await leavesNothing(async () => {
      assertError(
        await uploadParts([field('deviceAssetId', 'n-1'), field('fileName', 'a\u0001.jpg'), file(jpeg())]),
        400,
        'validation_failed',
      );
      assertError(await uploadParts([field('deviceAssetId', 'n\u0085-2'), file(jpeg())]), 400, 'validation_failed');
    });
  });
});

describe('fault 4: non-finite list limits', () => {
  const lists = ['/api/v1/admin/accounts', '/api/v1/admin/devices', '/api/v1/admin/assets'];

  it('?limit=Infinity, 1e400, -Infinity on admin and device lists: 400 validation_failed', async () => {
    for (const limit of ['Infinity', '1e400', '-Infinity', '1e309']) {
      for (const path of lists) assertError(await admin.call('GET', `${path}?limit=${limit}`), 400, 'validation_failed');
      assertError(await phone.call('GET', `/api/v1/assets?limit=${limit}`), 400, 'validation_failed');
    }
    for (const path of lists) assert.equal((await admin.call('GET', `${path}?limit=1000`)).status, 200);
  });
});

describe('fault 5: ?since= dates JavaScript or Postgres cannot hold', () => {
  it('a leap second is read (normalised), year 0 and impossible dates are 400 validation_failed', async () => {
    assert.equal((await phone.call('GET', '/api/v1/assets?since=2016-12-31T23:59:60Z')).status, 200);
    for (const since of ['0000-01-01T00:00:00Z', '2020-02-30T00:00:00Z', '10000-01-01T00:00:00Z', '2016-12-31T12:00:60Z', 'soon']) {
      assertError(await phone.call('GET', `/api/v1/assets?since=${encodeURIComponent(since)}`), 400, 'validation_failed');
    }
  });
});

describe('faults 6 and 7: fileCreatedAt out of range', () => {
  const refused = ['0000-01-01', '9999-12-31T23:59:59-23:59', '2020-02-30', '2020-02-30T10:00:00Z'];

  it('native upload: 400 validation_failed, no blob file, no temp file, no row', async () => {
    for (const fileCreatedAt of refused) {
      await leavesNothing(async () => {
        const res = await uploadParts([
          field('deviceAssetId', `d-${fileCreatedAt}`),
          field('fileCreatedAt', fileCreatedAt),
          file(jpeg(50_000)),
        ]);
        assertError(res, 400, 'validation_failed');
      });
    }
  });

  it('by-hash: 400 validation_failed, no row', async () => {
    const bytes = jpeg(30_000);
    assert.equal((await phone.upload(bytes)).status, 201);
    const other = await admin.pairDevice(accountId, 'Second phone');
    for (const fileCreatedAt of refused) {
      await leavesNothing(async () => {
        const res = await other.call('POST', '/api/v1/assets/by-hash', {
          sha256: sha256(bytes),
          deviceAssetId: 'bh-1',
          fileName: 'a.jpg',
          fileCreatedAt,
        });
        assertError(res, 400, 'validation_failed');
      });
    }
    const ok = await other.call('POST', '/api/v1/assets/by-hash', {
      sha256: sha256(bytes),
      deviceAssetId: 'bh-1',
      fileName: 'a.jpg',
      fileCreatedAt: 'Sun, 06 Nov 1994 08:49:37 GMT',
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.equal((await other.call('GET', `/api/v1/assets/${ok.body.id}`)).body.fileCreatedAt, '1994-11-06T08:49:37.000Z');
  });

  it('an accepted offset is stored as the instant it names, and reads back as RFC 3339', async () => {
    const res = await phone.upload(jpeg(20_000), { fileCreatedAt: '9999-12-31T23:59:59+23:59' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal((await phone.call('GET', `/api/v1/assets/${res.body.id}`)).body.fileCreatedAt, '9999-12-31T00:00:59.000Z');
  });

  it('a row written before the parser existed (year 10000) cannot poison a listing: fileCreatedAt reads as null', async () => {
    const res = await phone.upload(jpeg(20_000));
    assert.equal(res.status, 201);
    await relay.services.db.$executeRaw`UPDATE assets SET file_created_at = '10000-01-01T00:00:00Z' WHERE id = ${res.body.id}::uuid`;
    const one = await phone.call('GET', `/api/v1/assets/${res.body.id}`);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.equal(one.body.fileCreatedAt, null);
    assert.equal((await phone.call('GET', '/api/v1/assets?limit=1000')).status, 200);
    assert.equal((await admin.call('GET', '/api/v1/admin/assets?limit=1000')).status, 200);
    assert.equal((await admin.call('GET', `/api/v1/admin/assets/${res.body.id}`)).status, 200);
  });
});

describe('framework errors answer in the contract', () => {
  it('a bad %-encoding in the path: 400 validation_failed', async () => {
    assertError(await rawRequest(relay.url, 'GET', '/api/v1/admin/accounts/%E0%A4%A', auth(ADMIN_TOKEN)), 400, 'validation_failed');
    assertError(await rawRequest(relay.url, 'GET', '/api/v1/assets/%ZZ', auth(phone.token)), 400, 'validation_failed');
  });

  it('a path parameter longer than any id: 404 not_found', async () => {
    assertError(await rawRequest(relay.url, 'GET', `/api/v1/admin/accounts/${'a'.repeat(500)}`, auth(ADMIN_TOKEN)), 404, 'not_found');
    assertError(await rawRequest(relay.url, 'GET', `/api/v1/assets/${'a'.repeat(500)}`, auth(phone.token)), 404, 'not_found');
  });

  it('Expect: bogus: 417 with the JSON error body', async () => {
    const res = await rawRequest(
      relay.url,
      'POST',
      '/api/v1/admin/accounts',
      { ...auth(ADMIN_TOKEN), Expect: 'bogus', 'Content-Type': 'application/json' },
      '{"name":"x"}',
    );
    assertError(res, 417, 'validation_failed');
    assert.equal((await admin.call('GET', '/api/v1/admin/accounts')).body.items.filter((a: { name: string }) => a.name === 'x').length, 0);
  });

  it('a multipart body cut short by its Content-Length: 400 incomplete_upload', async () => {
    await leavesNothing(async () => {
      const { body, contentType } = multipart([field('deviceAssetId', 'short-1'), file(jpeg(2_000))]);
      const conn = await RawConnection.open(relay.url);
      await conn.write(
        requestHead('POST', '/api/v1/assets', { ...auth(phone.token), 'Content-Type': contentType, 'Content-Length': body.length + 500 }),
      );
      await conn.write(body);
      conn.socket.end();
      assertError(await conn.responseWithin(10_000), 400, 'incomplete_upload');
      conn.socket.destroy();
    });
    // The other way round: a Content-Length shorter than the multipart body ends the form before its closing boundary.
    await leavesNothing(async () => {
      const { body, contentType } = multipart([field('deviceAssetId', 'short-2'), file(jpeg(2_000))]);
      const head = { ...auth(phone.token), 'Content-Type': contentType, 'Content-Length': body.length - 40 };
      const res = await rawRequest(relay.url, 'POST', '/api/v1/assets', head, body.subarray(0, body.length - 40));
      assertError(res, 400, 'incomplete_upload');
    });
  });

  it('bad content types: JSON routes and the upload answer validation_failed, never Fastify codes', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data', ';;;']) {
      const res = await rawRequest(
        relay.url,
        'POST',
        '/api/v1/admin/accounts',
        { ...auth(ADMIN_TOKEN), 'Content-Type': type },
        '{"name":"ct"}',
      );
      assert.ok(res && res.status >= 400 && res.status < 500, `${type}: ${res?.status} ${res?.text}`);
      assertError(res, res.status, 'validation_failed');
    }
    for (const type of ['application/json', 'multipart/form-data', 'multipart/form-data; boundary=', 'text/plain']) {
      const res = await rawRequest(relay.url, 'POST', '/api/v1/assets', { ...auth(phone.token), 'Content-Type': type }, '{"x":1}');
      // A body with no boundary in it ends as a form cut short: either 400 code is the contract's.
      assertError(res, 400);
      assert.ok(['validation_failed', 'incomplete_upload'].includes(res!.body.code), res!.text);
    }
  });
});
