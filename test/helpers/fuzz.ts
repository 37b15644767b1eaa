import { STATUS_CODES } from 'node:http';
import fc from 'fast-check';
import { ERROR_CODES } from '../../src/http/errors.ts';
import net from 'node:net';
import { parseResponse, type RawResponse } from './raw-http.ts';

/**
 * Generators of hostile requests for test/fuzz.test.ts, and the judge every answer must satisfy. Each request is
 * plain bytes on a socket, so anything a phone, a broken proxy or an attacker could send is in reach.
 */

export interface Fixture {
  adminToken: string;
  phones: { token: string; deviceId: string }[];
  accountId: string;
  assetIds: string[];
  /** A WebDAV destination folder whose path fits the column while its children's would not. */
  deepFolder: string;
}

export interface FuzzRequest {
  family: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The whole request as bytes (raw family): sent as is, then the socket is half-closed. */
  raw?: Buffer;
  /** Carries a valid device token on the Nextcloud door, which must then never answer 401 or 403. */
  validToken?: boolean;
}

// ---------------------------------------------------------------------------------------------------- strings
const NASTY = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfff',
  '\u202e',
  'a\u2028b',
  '\r\n',
  '\t',
  '\u0085',
  '%00',
  '%',
  '%ZZ',
  '../../etc/passwd',
  '..',
  '.',
  '/',
  '\\',
  '__proto__',
  'constructor',
  'toString',
  'null',
  'true',
  '[]',
  '{}',
  'Infinity',
  '-Infinity',
  'NaN',
  '1e400',
  '-0',
  '0x1F',
  '9'.repeat(30),
  'x'.repeat(256),
  '\u00e9'.repeat(201),
  '\u{1F600}'.repeat(130),
  'e\u0301',
  '0000-01-01',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59-23:59',
  '9999-12-31T23:59:59+23:59',
  '2016-12-31T23:59:60Z',
  '2020-02-30',
  '10000-01-01T00:00:00Z',
  '1700000000.5',
  '-1e20',
  'Sun, 06 Nov 1994 08:49:37 GMT',
  'Sun, 31 Feb 2021 00:00:00 GMT',
  '<x/>',
  '"',
  "'",
  '${x}',
  '{{x}}',
  'SELECT 1;--',
];
const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NASTY), weight: 4 },
  { arbitrary: fc.string({ unit: utf16Unit, maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 300 }), weight: 1 },
  { arbitrary: fc.string({ maxLength: 20 }), weight: 2 },
  {
    arbitrary: fc.tuple(fc.constantFrom(...NASTY), fc.string({ maxLength: 8 }), fc.constantFrom(...NASTY)).map((p) => p.join('')),
    weight: 2,
  },
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: hostileString, weight: 5 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
  { arbitrary: fc.constantFrom(null, 0, -1, 1e308, 1.5, true, [], {}, [''], { $gt: '' }), weight: 2 },
);
const hexHash = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 64, maxLength: 64 });
const dateLike = fc.oneof(
  fc.constantFrom(...NASTY.filter((s) => /\d/.test(s))),
  fc.date({ min: new Date(-62198755200000), max: new Date(253433923200000), noInvalidDate: true }).map((d) => d.toISOString()),
  fc
    .tuple(
      fc.integer({ min: 0, max: 10000 }),
      fc.integer({ min: 0, max: 13 }),
      fc.integer({ min: 0, max: 32 }),
      fc.integer({ min: 0, max: 61 }),
      fc.constantFrom('Z', '+23:59', '-23:59', '+24:00', '', '+05:30'),
    )
    .map(
      ([y, m, d, s, z]) =>
        `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}T23:59:${String(s).padStart(2, '0')}${z}`,
    ),
  fc.double({ noNaN: false }).map(String),
);

/** Percent-encoding that, unlike encodeURIComponent, takes lone surrogates too (as U+FFFD, the way UTF-8 would). */
export function pct(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Header values go on the wire as latin1: no CR or LF (framing is the raw family's business), code units above 0xff folded. */
const headerSafe = (s: string) => s.replace(/[\r\n]/g, '').replace(/[^\u0000-\u00ff]/g, '?');
const pathSegment = fc.oneof(
  { arbitrary: hostileString.map(pct), weight: 3 },
  {
    arbitrary: fc.constantFrom('%E0%A4%A', '%ZZ', '%', '%00', '%2F', '%2e%2e', '..', '.', 'a'.repeat(300), '%C0%AF', '%ED%A0%80', ';', '*'),
    weight: 3,
  },
  { arbitrary: fc.webSegment(), weight: 2 },
);

// ------------------------------------------------------------------------------------------------------- auth
function authArb(f: Fixture, kind: 'api' | 'admin' | 'dav'): fc.Arbitrary<Record<string, string>> {
  const phone = fc.constantFrom(...f.phones);
  const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`, 'latin1').toString('base64')}`;
  const right =
    kind === 'admin'
      ? fc.constant(`Bearer ${f.adminToken}`)
      : kind === 'dav'
        ? phone.map((p) => basic('phone', p.token))
        : phone.map((p) => `Bearer ${p.token}`);
  const wrong = fc.oneof(
    hostileString.map((s) => `Bearer ${headerSafe(s)}`),
    fc.tuple(hostileString, hostileString).map(([u, p]) => basic(headerSafe(u), headerSafe(p))),
    phone.map((p) => `Bearer ${p.token}x`),
    fc.constant(`Bearer ${f.adminToken}`),
    phone.map((p) => `Bearer ${p.token}`),
    fc.constantFrom('Bearer', 'Basic', 'Basic !!!', 'Digest x', 'bearer  ', `Basic ${Buffer.from('no-colon').toString('base64')}`),
  );
  return fc.oneof(
    { arbitrary: right.map((a) => ({ Authorization: a })), weight: 8 },
    { arbitrary: wrong.map((a) => ({ Authorization: headerSafe(a) })), weight: 2 },
    { arbitrary: fc.constant({}), weight: 1 },
  );
}

const contentType = fc.oneof(
  { arbitrary: fc.constant('application/json'), weight: 8 },
  {
    arbitrary: fc.constantFrom(
      'text/plain',
      'application/json; charset=utf-16',
      'application/x-www-form-urlencoded',
      'multipart/form-data',
      ';;;',
      'application/',
      '*/*',
      'application/json\u0000',
    ),
    weight: 2,
  },
  { arbitrary: hostileString.map(headerSafe), weight: 1 },
);
const expect = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 10 },
  { arbitrary: fc.constantFrom('100-continue', 'bogus', '200-ok', '100-continue, bogus'), weight: 1 },
);

function idIn(ids: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...ids), weight: 4 },
    { arbitrary: fc.uuid(), weight: 1 },
    { arbitrary: pathSegment, weight: 2 },
  );
}

// ------------------------------------------------------------------------------------------------- JSON bodies
function jsonBody(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Buffer> {
  const wellFormed = fc.record(Object.fromEntries(Object.entries(fields).map(([k, a]) => [k, fc.oneof(a, hostileValue)])), {
    requiredKeys: [],
  });
  const withExtra = fc.tuple(wellFormed, fc.dictionary(hostileString, hostileValue, { maxKeys: 3 })).map(([a, b]) => ({ ...b, ...a }));
  return fc.oneof(
    { arbitrary: fc.oneof(wellFormed, withExtra).map((v) => Buffer.from(JSON.stringify(v))), weight: 6 },
    { arbitrary: hostileValue.map((v) => Buffer.from(JSON.stringify(v) ?? '')), weight: 1 },
    {
      arbitrary: fc
        .constantFrom('', '{', '{"name":', '[1,', '{"__proto__":{"x":1}}', '{"name":"a"}{"name":"b"}', 'null', '\u0000')
        .map((s) => Buffer.from(s)),
      weight: 1,
    },
    { arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), weight: 1 },
  );
}

export function jsonRequests(f: Fixture): fc.Arbitrary<FuzzRequest> {
  const accountId = idIn([f.accountId]);
  const deviceId = idIn(f.phones.map((p) => p.deviceId));
  const assetId = idIn(f.assetIds);
  const name = fc.oneof(fc.string({ maxLength: 30 }), hostileString);
  const targets: fc.Arbitrary<[string, string, 'api' | 'admin' | 'none', Record<string, fc.Arbitrary<unknown>>]>[] = [
    fc.constant(['POST', '/api/v1/admin/accounts', 'admin', { name }]),
    accountId.map((id) => [
      'PATCH',
      `/api/v1/admin/accounts/${id}`,
      'admin',
      { name, forwarding: fc.constantFrom('active', 'paused', 'x') },
    ]),
    deviceId.map((id) => ['PATCH', `/api/v1/admin/devices/${id}`, 'admin', { name }]),
    fc.constant([
      'POST',
      '/api/v1/pair',
      'none',
      { code: fc.oneof(hostileString, fc.constant('ABCDE-FGHJK')), name, platform: fc.oneof(fc.constant('android'), hostileString) },
    ]),
    fc.constant(['POST', '/api/v1/assets/check', 'api', { sha256: fc.array(fc.oneof(hexHash, hostileString), { maxLength: 5 }) }]),
    fc.constant([
      'POST',
      '/api/v1/assets/by-hash',
      'api',
      { sha256: hexHash, deviceAssetId: name, fileName: name, fileCreatedAt: dateLike },
    ]),
    fc.constant(['POST', '/api/v1/admin/assets/retry', 'admin', { accountId: fc.oneof(fc.constant(f.accountId), hostileString) }]),
    assetId.map((id) => ['POST', `/api/v1/admin/assets/${id}/retry`, 'admin', {}]),
    accountId.map((id) => ['POST', `/api/v1/admin/accounts/${id}/pairings`, 'admin', {}]),
    accountId.map((id) => ['POST', `/api/v1/admin/accounts/${id}/google/authorize`, 'admin', {}]),
    // Destructive calls only on ids that name nothing of the fixture: the fixture's phones must keep working.
    fc.oneof(fc.uuid(), pathSegment).map((id) => ['DELETE', `/api/v1/admin/devices/${id}`, 'admin', {}]),
    fc.oneof(fc.uuid(), pathSegment).map((id) => ['DELETE', `/api/v1/admin/accounts/${id}`, 'admin', {}]),
  ];
  return fc.tuple(fc.oneof(...targets), contentType, expect, fc.constant(f)).chain(([[method, path, auth, fields], type, exp]) =>
    fc.tuple(auth === 'none' ? fc.constant({}) : authArb(f, auth), jsonBody(fields)).map(([authHeaders, body]) => ({
      family: 'json',
      method,
      path,
      headers: { ...authHeaders, 'Content-Type': type, ...(exp ? { Expect: exp } : {}) },
      body,
    })),
  );
}

// ------------------------------------------------------------------------------------------------ query strings
const limitValue = fc.oneof(
  fc.constantFrom(
    'Infinity',
    '1e400',
    '-Infinity',
    '1e3',
    '1001',
    '0',
    '-1',
    'NaN',
    '0x10',
    '1.5',
    '',
    ' 5',
    '99999999999999999999',
    '1,2',
  ),
  fc.integer({ min: -5, max: 1005 }).map(String),
);
const queryValue = fc.oneof(hostileString, dateLike, limitValue);

export function queryRequests(f: Fixture): fc.Arbitrary<FuzzRequest> {
  const lists: [string, 'api' | 'admin', string[]][] = [
    ['/api/v1/assets', 'api', ['limit', 'cursor', 'state', 'since']],
    ['/api/v1/admin/accounts', 'admin', ['limit', 'cursor']],
    ['/api/v1/admin/devices', 'admin', ['limit', 'cursor', 'accountId']],
    ['/api/v1/admin/assets', 'admin', ['limit', 'cursor', 'state', 'accountId', 'deviceId']],
    ['/api/v1/device', 'api', []],
    ['/api/v1/admin/status', 'admin', []],
    ['/oauth/google/callback', 'admin', ['code', 'state', 'error']],
    ['/healthz', 'admin', []],
    ['/metrics', 'admin', []],
  ];
  const oneList = fc.constantFrom(...lists);
  const getById = fc.oneof(
    idIn(f.assetIds).map((id) => [`/api/v1/assets/${id}`, 'api'] as const),
    idIn(f.assetIds).map((id) => [`/api/v1/admin/assets/${id}`, 'admin'] as const),
    idIn([f.accountId]).map((id) => [`/api/v1/admin/accounts/${id}`, 'admin'] as const),
    idIn(f.phones.map((p) => p.deviceId)).map((id) => [`/api/v1/admin/devices/${id}`, 'admin'] as const),
  );
  const pairs = (keys: string[]) =>
    fc.array(fc.tuple(fc.oneof(fc.constantFrom(...(keys.length ? keys : ['x'])), hostileString), queryValue), { maxLength: 4 });
  const list = oneList.chain(([path, auth, keys]) =>
    fc.tuple(fc.constant(path), authArb(f, auth), pairs(keys), fc.boolean()).map(([p, a, q, rawEncoding]) => {
      const query = q.map(([k, v]) =>
        rawEncoding ? `${headerSafe(k).replace(/[ #]/g, '+')}=${headerSafe(v).replace(/[ #]/g, '+')}` : `${pct(k)}=${pct(v)}`,
      );
      return {
        family: 'query',
        method: 'GET',
        path: `${p}${query.length ? `?${query.join('&')}` : ''}`.replace(
          /[\u0000-\u0020\u007f-\u00ff]/g,
          (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
        ),
        headers: a,
        body: Buffer.alloc(0),
      };
    }),
  );
  const one = getById.chain(([path, auth]) =>
    authArb(f, auth).map((a) => ({ family: 'query', method: 'GET', path, headers: a, body: Buffer.alloc(0) })),
  );
  return fc.oneof(list, one);
}

// ------------------------------------------------------------------------------------------------------ multipart
const JPEG_HEAD = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex');
const fileBytes = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 3000 }).map((b) => Buffer.concat([JPEG_HEAD, Buffer.from(b), Buffer.from('ffd9', 'hex')])),
  fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
  fc.constant(Buffer.alloc(0)),
);
const partName = fc.oneof(
  { arbitrary: fc.constantFrom('deviceAssetId', 'fileName', 'fileCreatedAt', 'sha256', 'file'), weight: 6 },
  { arbitrary: hostileString, weight: 1 },
);
const part = fc.record({
  name: partName,
  value: fc.oneof(
    hostileString.map((s) => Buffer.from(s)),
    dateLike.map((s) => Buffer.from(s)),
    fileBytes,
  ),
  filename: fc.option(fc.oneof(fc.constant('IMG_1.jpg'), hostileString), { nil: undefined }),
  contentType: fc.option(fc.constantFrom('image/jpeg', 'text/plain', 'application/octet-stream', '', 'x'), { nil: undefined }),
  extraHeaders: fc.array(
    fc.oneof(
      fc.constantFrom('Content-Transfer-Encoding: base64', 'X: y', 'Content-Disposition: attachment', ': x', 'a'.repeat(200)),
      hostileString,
    ),
    { maxLength: 3 },
  ),
});

/** The native upload's parts in the order the contract asks for: metadata fields, then the file. */
function uploadForm([id, date, fileName, bytes]: [string, string | undefined, string | undefined, Buffer]) {
  return [
    { name: 'deviceAssetId', value: Buffer.from(id), extraHeaders: [] as string[] },
    ...(date !== undefined ? [{ name: 'fileCreatedAt', value: Buffer.from(date), extraHeaders: [] }] : []),
    ...(fileName !== undefined ? [{ name: 'fileName', value: Buffer.from(fileName), extraHeaders: [] }] : []),
    { name: 'file', value: bytes, filename: 'IMG.jpg', contentType: 'image/jpeg', extraHeaders: [] },
  ];
}

export function multipartRequests(f: Fixture): fc.Arbitrary<FuzzRequest> {
  const wellOrdered = fc
    .tuple(
      fc.string({ minLength: 1, maxLength: 30 }),
      fc.option(dateLike, { nil: undefined }),
      fc.option(hostileString, { nil: undefined }),
      fileBytes,
    )
    .map(uploadForm);
  // Mostly what a phone sends, one value at a time made hostile: the request must get past framing and auth to reach
  // the metadata checks and the ledger.
  const plausibleDate = fc.oneof(
    fc.date({ min: new Date('1900-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
    dateLike,
  );
  const plausible = fc
    .tuple(
      fc.oneof(
        { arbitrary: fc.string({ unit: fc.constantFrom(...'abcdef0123456789-'), minLength: 1, maxLength: 36 }), weight: 4 },
        { arbitrary: hostileString, weight: 1 },
      ),
      fc.option(plausibleDate, { nil: undefined }),
      fc.option(
        fc.oneof(
          { arbitrary: fc.constantFrom('IMG_0001.jpg', 'Café.jpg', 'e\u0301.jpg'), weight: 3 },
          { arbitrary: hostileString, weight: 1 },
        ),
        { nil: undefined },
      ),
      fileBytes,
    )
    .map(uploadForm);
  const parts = fc.oneof(
    { arbitrary: plausible, weight: 3 },
    { arbitrary: wellOrdered, weight: 1 },
    { arbitrary: fc.array(part, { maxLength: 6 }), weight: 2 },
  );
  return fc
    .tuple(
      parts,
      fc.string({ unit: fc.constantFrom(...'abcXYZ0189-_'), minLength: 1, maxLength: 70 }),
      fc.oneof(
        { arbitrary: fc.constant('ok'), weight: 8 },
        { arbitrary: fc.constantFrom('no-boundary', 'wrong-boundary', 'quoted', 'json'), weight: 2 },
      ),
      fc.oneof({ arbitrary: fc.constant('whole'), weight: 8 }, { arbitrary: fc.constantFrom('cut', 'no-close', 'lf-only'), weight: 2 }),
      fc.nat(),
      authArb(f, 'api'),
      expect,
    )
    .map(([ps, boundary, typeKind, shape, cutAt, auth, exp]) => {
      const eol = shape === 'lf-only' ? '\n' : '\r\n';
      const pieces: Buffer[] = [];
      for (const p of ps as {
        name: string;
        value: Buffer;
        filename?: string | undefined;
        contentType?: string | undefined;
        extraHeaders: string[];
      }[]) {
        const disposition = `Content-Disposition: form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
        const headers = [disposition, ...(p.contentType !== undefined ? [`Content-Type: ${p.contentType}`] : []), ...p.extraHeaders];
        pieces.push(Buffer.from(`--${boundary}${eol}${headers.join(eol)}${eol}${eol}`, 'utf8'), p.value, Buffer.from(eol));
      }
      if (shape !== 'no-close') pieces.push(Buffer.from(`--${boundary}--${eol}`));
      let body = Buffer.concat(pieces);
      if (shape === 'cut' && body.length > 0) body = body.subarray(0, cutAt % body.length);
      const type = {
        ok: `multipart/form-data; boundary=${boundary}`,
        'no-boundary': 'multipart/form-data',
        'wrong-boundary': `multipart/form-data; boundary=${boundary}x`,
        quoted: `multipart/form-data; boundary="${boundary}"`,
        json: 'application/json',
      }[typeKind]!;
      return {
        family: 'multipart',
        method: 'POST',
        path: '/api/v1/assets',
        headers: { ...auth, 'Content-Type': type, ...(exp ? { Expect: exp } : {}) },
        body,
      };
    });
}

// --------------------------------------------------------------------------------------------------------- WebDAV
const DAV_NAMES = [
  'propfind',
  'prop',
  'allprop',
  'propname',
  'propertyupdate',
  'set',
  'remove',
  'getlastmodified',
  'lastmodified',
  'lockinfo',
  'lockscope',
  'exclusive',
  'locktype',
  'write',
  'owner',
  'href',
  'displayname',
  'resourcetype',
];
type Xml = { name: string; prefix: string; attrs: [string, string][]; children: Xml[]; text: string };
/** An XML element tree, at most `depth` levels deep. */
function xmlNode(depth: number): fc.Arbitrary<Xml> {
  return fc.record({
    name: fc.oneof(
      { arbitrary: fc.constantFrom(...DAV_NAMES), weight: 5 },
      { arbitrary: fc.string({ unit: fc.constantFrom(...'abcXYZ_-.:0'), minLength: 1, maxLength: 8 }), weight: 1 },
    ),
    prefix: fc.constantFrom('D:', 'd:', '', 'x:', 'Z:'),
    attrs: fc.array(
      fc.tuple(
        fc.constantFrom('xmlns:D', 'xmlns', 'xmlns:x', 'a', 'b:c', 'xml:lang'),
        fc.oneof(fc.constantFrom('DAV:', 'urn:x', '', 'urn:schemas-microsoft-com:'), hostileString),
      ),
      { maxLength: 3 },
    ),
    children: depth > 0 ? fc.array(xmlNode(depth - 1), { maxLength: 3 }) : fc.constant([]),
    text: fc.oneof(
      fc.constant(''),
      dateLike,
      hostileString,
      fc.constantFrom('&amp;', '&lt;', '&bogus;', '&#0;', '&#x110000;', '<![CDATA[x]]>', ']]>'),
    ),
  });
}
const xmlTree = xmlNode(4);
function renderXml(n: Xml): string {
  const attrs = n.attrs.map(([k, v]) => ` ${k}="${v.replace(/[<&"]/g, '')}"`).join('');
  return `<${n.prefix}${n.name}${attrs}>${n.text}${n.children.map(renderXml).join('')}</${n.prefix}${n.name}>`;
}
const xmlBody = fc.oneof(
  {
    arbitrary: xmlTree.map((t) => `<?xml version="1.0" encoding="utf-8"?>${renderXml({ ...t, attrs: [['xmlns:D', 'DAV:'], ...t.attrs] })}`),
    weight: 6,
  },
  { arbitrary: xmlTree.map((t) => renderXml(t).slice(0, -3)), weight: 1 },
  {
    // Shapes that hurt parsers: entity expansion, external entities, deep nesting, attribute and namespace floods.
    arbitrary: fc.constantFrom(
      '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><D:propfind xmlns:D="DAV:"><D:prop>&b;</D:prop></D:propfind>',
      '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:">&x;</D:propfind>',
      `<D:propfind xmlns:D="DAV:">${'<D:prop>'.repeat(2000)}${'</D:prop>'.repeat(2000)}</D:propfind>`,
      `<D:propfind xmlns:D="DAV:" ${'a="'.repeat(21_000)}>`,
      `<D:propfind xmlns:D="DAV:" ${'a=b '.repeat(15_000)}/>`,
      `<D:propfind xmlns:D="DAV:" a="${'x'.repeat(62_000)}`,
      `<D:propfind xmlns:D="DAV:"${' x:y="1"'.repeat(7_500)}><D:prop/></D:propfind>`,
      `<D:propfind xmlns:D="DAV:" ${Array.from({ length: 1500 }, (_, i) => `xmlns:n${i}="urn:${i}"`).join(' ')}><D:prop>${'<D:getetag/>'.repeat(2000)}</D:prop></D:propfind>`,
      '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>',
      '',
      'not xml at all',
      '\u0000\u0001',
    ),
    weight: 2,
  },
);

export function webdavRequests(f: Fixture): fc.Arbitrary<FuzzRequest> {
  const method = fc.oneof(
    {
      arbitrary: fc.constantFrom(
        'PROPFIND',
        'PROPPATCH',
        'MKCOL',
        'PUT',
        'GET',
        'HEAD',
        'DELETE',
        'MOVE',
        'COPY',
        'LOCK',
        'UNLOCK',
        'OPTIONS',
      ),
      weight: 10,
    },
    { arbitrary: fc.constantFrom('POST', 'PATCH', 'SEARCH', 'REPORT', 'TRACE'), weight: 1 },
  );
  const path = fc
    .array(pathSegment, { minLength: 0, maxLength: 4 })
    .chain((segs) => fc.constantFrom('', '/').map((slash) => `/dav/${segs.join('/')}${slash}`));
  const goodPath = fc
    .tuple(fc.constantFrom('a', 'b', 'a/b', 'c d'), fc.constantFrom('IMG_1.jpg', 'IMG_2.jpg', 'x.png', ''))
    .map(([d, n]) => `/dav/${encodeURI(d)}/${n}`);
  const headers = fc.record(
    {
      Depth: fc.constantFrom('0', '1', 'infinity', 'x', '-1'),
      Destination: fc.oneof(path, goodPath, hostileString.map(headerSafe)).map((p) => (p.startsWith('/') ? `http://127.0.0.1${p}` : p)),
      Overwrite: fc.constantFrom('T', 'F', 'x'),
      'X-OC-Mtime': dateLike.map(headerSafe),
      'OC-Checksum': fc.oneof(
        fc.constantFrom(
          'SHA1:da39a3ee5e6b4b0d3255bfef95601890afd80709',
          'MD5:x',
          'SHA256:',
          'constructor:abc',
          '__proto__:x',
          'toString:1',
          'Adler32:1',
        ),
        hostileString.map(headerSafe),
      ),
      'Content-Range': fc.constantFrom('bytes 0-9/10', 'bytes */10', 'x'),
      If: fc.constantFrom('(<opaquelocktoken:x>)', '<http://x/> (Not <x>)', 'junk'),
      Timeout: fc.constantFrom('Second-60', 'Infinite', 'x'),
      'Lock-Token': fc.constantFrom('<opaquelocktoken:x>', 'x'),
    },
    { requiredKeys: [] },
  );
  const body = fc.oneof(
    xmlBody.map((s) => Buffer.from(s)),
    fileBytes,
  );
  const hostile = fc
    .tuple(method, fc.oneof(path, goodPath), headers, body, authArb(f, 'dav'), expect)
    .map(([m, p, h, b, a, exp]) => ({
      family: 'webdav',
      method: m,
      path: p,
      headers: { ...a, ...h, ...(exp ? { Expect: exp } : {}) },
      body: b,
    }));
  // What a sync app sends, with one part made hostile, so requests reach the tree, the ledger and the XML parser.
  const propfind = fc.oneof(
    fc.constant(
      '<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getlastmodified/><d:getetag/><d:resourcetype/></d:prop></d:propfind>',
    ),
    fc.constant(''),
    xmlBody,
  );
  const proppatch = fc
    .tuple(fc.constantFrom('getlastmodified', 'lastmodified'), dateLike)
    .map(
      ([prop, date]) =>
        `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:${prop}>${date.replace(/[<&]/g, '')}</d:${prop}></d:prop></d:set></d:propertyupdate>`,
    );
  const plausible = fc
    .tuple(
      fc.constantFrom('PUT', 'PUT', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'MOVE', 'COPY', 'DELETE', 'GET', 'LOCK'),
      fc.oneof(goodPath, fc.constantFrom('/dav/a/', '/dav/a/b/')),
      // A destination whose own path fits the column while its children's paths would not.
      fc.oneof(goodPath, path, fc.constant(f.deepFolder), fc.constant('/dav/a2/')),
      fc.option(fc.oneof(dateLike, fc.integer({ min: 0, max: 2_000_000_000 }).map(String)), { nil: undefined }),
      fc.option(
        headers.map((h) => h['OC-Checksum']),
        { nil: undefined },
      ),
      fileBytes,
      propfind,
      proppatch,
      authArb(f, 'dav'),
      fc.constantFrom('0', '1'),
    )
    .map(([m, p, dest, mtime, sum, bytes, pf, pp, a, depth]) => {
      const h: Record<string, string> = { ...a };
      let b: Buffer = Buffer.alloc(0);
      if (m === 'PUT') {
        b = bytes;
        if (mtime !== undefined) h['X-OC-Mtime'] = headerSafe(mtime);
        if (sum) h['OC-Checksum'] = sum;
      } else if (m === 'PROPFIND' || m === 'LOCK') {
        b = Buffer.from(pf);
        h.Depth = depth;
      } else if (m === 'PROPPATCH') b = Buffer.from(pp);
      else if (m === 'MOVE' || m === 'COPY') {
        h.Destination = `http://127.0.0.1${dest}`;
        if (mtime !== undefined) h['X-OC-Mtime'] = headerSafe(mtime);
      }
      const folder = m === 'MKCOL' || ((m === 'MOVE' || m === 'COPY') && dest.endsWith('/'));
      return { family: 'webdav', method: m, path: folder ? p.replace(/[^/]*$/, '') : p, headers: h, body: b };
    });
  return fc.oneof({ arbitrary: plausible, weight: 3 }, { arbitrary: hostile, weight: 2 });
}

// ---------------------------------------------------------------------------------------------- Nextcloud door
export function nextcloudRequests(f: Fixture): fc.Arbitrary<FuzzRequest> {
  const phone = fc.constantFrom(...f.phones);
  const user = fc.oneof({ arbitrary: phone.map((p) => p.deviceId), weight: 4 }, { arbitrary: pathSegment, weight: 1 });
  const uploadId = fc.oneof({ arbitrary: fc.constantFrom('u1', 'u2', 'a1b2c3'), weight: 4 }, { arbitrary: pathSegment, weight: 1 });
  const chunk = fc.oneof(
    { arbitrary: fc.constantFrom('1', '2', '10', '000001', '0000000000000000', '.file'), weight: 4 },
    { arbitrary: pathSegment, weight: 1 },
  );
  const tree = fc.array(
    fc.oneof({ arbitrary: fc.constantFrom('InstantUpload', 'Camera', 'IMG_1.jpg', 'Photos'), weight: 3 }, pathSegment),
    {
      maxLength: 3,
    },
  );
  const path = fc.oneof(
    { arbitrary: fc.tuple(user, tree).map(([u, t]) => `/remote.php/dav/files/${u}/${t.join('/')}`), weight: 4 },
    { arbitrary: tree.map((t) => `/remote.php/webdav/${t.join('/')}`), weight: 1 },
    { arbitrary: fc.tuple(user, uploadId).map(([u, i]) => `/remote.php/dav/uploads/${u}/${i}`), weight: 3 },
    { arbitrary: fc.tuple(user, uploadId, chunk).map(([u, i, c]) => `/remote.php/dav/uploads/${u}/${i}/${c}`), weight: 4 },
    {
      arbitrary: fc.constantFrom(
        '/status.php',
        '/ocs/v1.php/cloud/user?format=json',
        '/ocs/v2.php/cloud/user',
        '/ocs/v1.php/cloud/capabilities?format=xml',
        '/ocs/v2.php/cloud/capabilities?format=json',
        '/index.php/login/v2',
        '/index.php/login/v2/poll',
        '/index.php/login/v2/poll?token=x',
        '/index.php/core/wipe/check',
        '/remote.php/dav',
        '/remote.php/dav/',
      ),
      weight: 2,
    },
  );
  const method = fc.constantFrom(
    'MKCOL',
    'MKCOL',
    'PUT',
    'PUT',
    'PUT',
    'PROPFIND',
    'MOVE',
    'MOVE',
    'DELETE',
    'HEAD',
    'GET',
    'POST',
    'COPY',
  );
  const headers = fc.record(
    {
      Depth: fc.constantFrom('0', '1', 'infinity', 'x'),
      Destination: fc.oneof(
        fc.tuple(user, tree).map(([u, t]) => `http://127.0.0.1/remote.php/dav/files/${u}/${t.join('/')}`),
        fc.tuple(user, tree).map(([u, t]) => `/remote.php/dav/files/${u}/${t.join('/')}`),
        hostileString.map(headerSafe),
      ),
      Overwrite: fc.constantFrom('T', 'F', 'x'),
      'OC-Total-Length': fc.oneof(fc.integer({ min: 0, max: 10_000 }).map(String), hostileString.map(headerSafe)),
      'X-OC-Mtime': dateLike.map(headerSafe),
      'X-OC-Ctime': dateLike.map(headerSafe),
      'OC-Checksum': fc.oneof(
        fc.constantFrom('SHA256:' + '0'.repeat(64), 'SHA256:', 'MD5:x', '__proto__:x'),
        hostileString.map(headerSafe),
      ),
      'X-NC-WebDAV-Auto-Mkcol': fc.constantFrom('1', '0', 'x'),
      'OCS-APIRequest': fc.constant('true'),
      Accept: fc.constantFrom('application/json', 'application/xml', '*/*'),
      'Content-Type': fc.constantFrom('application/x-www-form-urlencoded', 'application/octet-stream', 'text/xml'),
    },
    { requiredKeys: [] },
  );
  const body = fc.oneof(
    fileBytes,
    xmlBody.map((x) => Buffer.from(x)),
    hostileString.map((x) => Buffer.from(`token=${pct(x)}`)),
  );
  const basic = (token: string) => `Basic ${Buffer.from(`phone:${token}`).toString('base64')}`;
  const auth = fc.oneof(
    { arbitrary: phone.map((p) => ({ headers: { Authorization: basic(p.token) }, valid: true })), weight: 4 },
    { arbitrary: authArb(f, 'dav').map((h) => ({ headers: h, valid: false })), weight: 1 },
  );
  return fc.tuple(method, path, headers, body, auth).map(([m, p, h, b, a]) => ({
    family: 'nextcloud',
    method: m,
    path: p,
    headers: { ...a.headers, ...h },
    body: m === 'GET' || m === 'HEAD' || m === 'DELETE' ? Buffer.alloc(0) : b,
    // Only requests whose credentials are a valid token and nothing else (a hostile authArb may be valid too).
    validToken: a.valid,
  }));
}

// ------------------------------------------------------------------------------------------- resumable uploads
const b64 = (v: string) => Buffer.from(v, 'utf8').toString('base64');
const uploadMetadata = fc.oneof(
  {
    arbitrary: fc
      .record(
        {
          deviceAssetId: fc.oneof(fc.constant('fuzz-asset'), hostileString),
          fileName: fc.oneof(fc.constant('IMG_1.jpg'), hostileString),
          filename: hostileString,
          fileCreatedAt: dateLike,
          sha256: fc.oneof(hexHash, hostileString),
        },
        { requiredKeys: [] },
      )
      .map((m) =>
        Object.entries(m)
          .map(([k, v]) => `${k} ${b64(String(v))}`)
          .join(','),
      ),
    weight: 4,
  },
  {
    arbitrary: fc.constantFrom(
      '',
      ',',
      'deviceAssetId',
      'deviceAssetId !!!',
      'a b c',
      'deviceAssetId eA==,deviceAssetId eA==',
      'k\u00ff dg==',
    ),
    weight: 1,
  },
  { arbitrary: hostileString.map(headerSafe), weight: 1 },
);
const lengthValue = fc.oneof(
  fc.nat({ max: 10_000 }).map(String),
  fc.constantFrom('-1', '1e3', '0x10', '99999999999999999999', '', ' 5', '1.5', String(2 ** 53)),
  hostileString.map(headerSafe),
);
const flag = fc.oneof(
  { arbitrary: fc.constantFrom('?0', '?1'), weight: 4 },
  { arbitrary: fc.constantFrom('?2', '1', 'true', '', '?1;x'), weight: 1 },
);

/** /api/v1/uploads in both protocols: every header the endpoint reads, plausible and hostile, with or without a body. */
export function resumableRequests(f: Fixture): fc.Arbitrary<FuzzRequest> {
  const protocol = fc.oneof(
    { arbitrary: fc.constant({ 'Tus-Resumable': '1.0.0' } as Record<string, string>), weight: 4 },
    { arbitrary: fc.constantFrom('3', '5', '6', '7', '8').map((v) => ({ 'Upload-Draft-Interop-Version': v })), weight: 4 },
    {
      arbitrary: fc.constantFrom<Record<string, string>>(
        {},
        { 'Tus-Resumable': '0.2.2' },
        { 'Upload-Draft-Interop-Version': '2' },
        { 'Upload-Draft-Interop-Version': 'x', 'Tus-Resumable': '1.0.0' },
      ),
      weight: 1,
    },
  );
  const target = fc.oneof(
    { arbitrary: fc.constantFrom('POST', 'OPTIONS').map((m) => [m, '/api/v1/uploads'] as const), weight: 3 },
    {
      arbitrary: fc
        .tuple(fc.constantFrom('HEAD', 'PATCH', 'DELETE', 'OPTIONS', 'GET', 'PUT'), fc.oneof(fc.uuid(), pathSegment))
        .map(([m, id]) => [m, `/api/v1/uploads/${id}`] as const),
      weight: 2,
    },
  );
  const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
  // Creations that get past validation, so the appends behind them (offsets, checksums, completion) are reached.
  const plausible = fc
    .tuple(
      fc.constantFrom<Record<string, string>>(
        { 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream' },
        { 'Upload-Draft-Interop-Version': '3' },
        { 'Upload-Draft-Interop-Version': '6', 'Upload-Complete': '?1' },
        { 'Upload-Draft-Interop-Version': '6', 'Upload-Complete': '?0' },
      ),
      authArb(f, 'api'),
      fileBytes,
      fc.constantFrom('exact', 'short', 'long', 'defer'),
      optional(fc.constantFrom(`sha256 ${b64('x')}`, 'sha1 AAAA')),
    )
    .map(([proto, auth, body, length, checksum]) => {
      const tus = 'Tus-Resumable' in proto;
      const declared = length === 'exact' ? body.length : length === 'short' ? Math.max(0, body.length - 1) : body.length + 1;
      return {
        family: 'resumable',
        method: 'POST',
        path: '/api/v1/uploads',
        headers: {
          ...proto,
          ...auth,
          'Upload-Metadata': `deviceAssetId ${b64(`fuzz-${body.length}`)},fileName ${b64('IMG_1.jpg')}`,
          ...(tus && length === 'defer' ? { 'Upload-Defer-Length': '1' } : { 'Upload-Length': String(declared) }),
          ...(checksum ? { 'Upload-Checksum': checksum } : {}),
        },
        body,
      };
    });
  const hostile = fc
    .tuple(
      target,
      protocol,
      authArb(f, 'api'),
      fc.record(
        {
          'Upload-Length': lengthValue,
          'Upload-Defer-Length': fc.constantFrom('1', '0', 'yes'),
          'Upload-Offset': lengthValue,
          'Upload-Metadata': uploadMetadata,
          'Upload-Checksum': fc.oneof(
            fc.constantFrom('sha256', 'sha1', 'md5', 'crc32').map((a) => `${a} ${b64('x'.repeat(20))}`),
            hostileString.map(headerSafe),
          ),
          'Upload-Complete': flag,
          'Upload-Incomplete': flag,
          'Repr-Digest': fc.oneof(
            hexHash.map((h) => `sha-256=:${Buffer.from(h.slice(0, 64), 'hex').toString('base64')}:`),
            hostileString.map(headerSafe),
          ),
          'Content-Type': fc.constantFrom('application/offset+octet-stream', 'application/partial-upload', 'image/jpeg', '', ';'),
        },
        { requiredKeys: [] },
      ),
      optional(fileBytes),
    )
    .map(([[method, path], proto, auth, headers, body]) => ({
      family: 'resumable',
      method,
      path,
      headers: { ...proto, ...auth, ...Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) } as Record<
        string,
        string
      >,
      body: method === 'HEAD' || method === 'OPTIONS' ? Buffer.alloc(0) : (body ?? Buffer.alloc(0)),
    }));
  return fc.oneof({ arbitrary: plausible, weight: 1 }, { arbitrary: hostile, weight: 2 });
}

// ----------------------------------------------------------------------------------------------- header mischief
export function headerRequests(f: Fixture): fc.Arbitrary<FuzzRequest> {
  const target = fc.constantFrom(
    ['GET', '/api/v1/device'],
    ['GET', '/api/v1/admin/accounts'],
    ['POST', '/api/v1/assets/check'],
    ['POST', '/api/v1/assets'],
    ['PROPFIND', '/dav/'],
    ['GET', '/healthz'],
    ['GET', '/nowhere'],
    ['DELETE', '/api/v1/assets'],
  );
  const extra = fc.dictionary(
    fc.oneof(
      fc.constantFrom(
        'Accept',
        'Accept-Encoding',
        'Content-Encoding',
        'Transfer-Encoding',
        'X-Forwarded-For',
        'Host',
        'Range',
        'If-None-Match',
        'Origin',
        'Cookie',
        'Connection',
      ),
      fc.string({ unit: fc.constantFrom(...'abcXYZ-'), minLength: 1, maxLength: 12 }),
    ),
    hostileString.map(headerSafe),
    { maxKeys: 4 },
  );
  return fc
    .tuple(
      target,
      authArb(f, 'api'),
      authArb(f, 'admin'),
      contentType,
      fc.constantFrom('100-continue', 'bogus', '', 'x'.repeat(100)),
      extra,
      jsonBody({ sha256: fc.array(hexHash, { maxLength: 2 }) }),
    )
    .map(([[method, path], api, admin, type, exp, more, body]) => ({
      family: 'headers',
      method: method!,
      path: path!,
      headers: { ...(path!.includes('admin') ? admin : api), 'Content-Type': type, ...(exp ? { Expect: exp } : {}), ...more },
      body,
    }));
}

// -------------------------------------------------------------------------------------------------------- raw HTTP
export function rawRequests(f: Fixture): fc.Arbitrary<FuzzRequest> {
  const auth = `Authorization: Bearer ${f.phones[0]!.token}\r\n`;
  const templates = fc.oneof(
    fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
    fc
      .tuple(
        fc.constantFrom('GET', 'POST', 'FOO', 'G ET', '', 'PROPFIND', 'CONNECT'),
        fc.oneof(
          fc.constantFrom('/api/v1/device', '*', 'http://x/', '/%', '//', '/dav/\u00ff'),
          pathSegment.map((s) => `/${s}`),
        ),
        fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', 'http/1.1', ''),
      )
      .map(([m, p, v]) => Buffer.from(`${m} ${p} ${v}\r\nHost: x\r\n${auth}\r\n`, 'latin1')),
    fc
      .tuple(
        fc.constantFrom('/api/v1/assets', '/api/v1/assets/check', '/api/v1/admin/accounts', '/dav/a/IMG.jpg'),
        fc.constantFrom(
          'Content-Length: 10\r\nContent-Length: 20\r\n',
          'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n',
          'Transfer-Encoding: chunked\r\n',
          'Transfer-Encoding: gzip, chunked\r\n',
          'Content-Length: -1\r\n',
          'Content-Length: 1e3\r\n',
          'Content-Length: 99999999999999999999\r\n',
          'Content-Length: 1000\r\n',
          'X: a\r\n b\r\n',
          'X\u0000Y: z\r\n',
          `X-Long: ${'a'.repeat(20_000)}\r\n`,
          'Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n',
        ),
        fc.constantFrom(
          '',
          'zz\r\n',
          '5\r\nhello\r\n0\r\n\r\n',
          '{"sha256":[]}',
          '--b\r\nContent-Disposition: form-data; name="deviceAssetId"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n\u00ff\u00d8\u00ff',
        ),
      )
      .map(([p, h, b]) =>
        Buffer.from(
          `${p.startsWith('/dav') ? 'PUT' : 'POST'} ${p} HTTP/1.1\r\nHost: x\r\n${auth}${p.startsWith('/dav') ? `Authorization: Basic ${Buffer.from(`u:${f.phones[0]!.token}`).toString('base64')}\r\n` : ''}${h}\r\n${b}`,
          'latin1',
        ),
      ),
  );
  return templates.map((raw) => ({ family: 'raw', method: 'RAW', path: '', headers: {}, body: Buffer.alloc(0), raw }));
}

// -------------------------------------------------------------------------------------------------- send and judge
/**
 * Send one request on its own connection and read until the server closes it (every request asks for
 * `Connection: close`; raw ones half-close after writing). Interim 1xx answers (100 Continue) are skipped.
 * Resolves undefined when nothing final arrived within `timeoutMs`, null when the server closed without an answer.
 */
export function send(baseUrl: string, req: FuzzRequest, timeoutMs: number): Promise<RawResponse | null | undefined> {
  const { hostname, port } = new URL(baseUrl);
  let head = req.raw;
  if (!head) {
    const lines = [`${req.method} ${req.path} HTTP/1.1`, 'Host: 127.0.0.1', `Content-Length: ${req.body.length}`, 'Connection: close'];
    for (const [k, v] of Object.entries(req.headers)) lines.push(`${k}: ${v}`);
    head = Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), req.body]);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: hostname, port: Number(port) });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(parseResponse(Buffer.concat(chunks), true) ?? undefined);
    }, timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(parseResponse(Buffer.concat(chunks), true));
    });
    socket.write(head);
    if (req.raw) socket.end();
  });
}

const CONTRACT_CODES = new Set(Object.keys(ERROR_CODES).filter((c) => c !== 'internal'));
// WebDAV's two statuses the JSON API never uses (src/webdav/errors.ts), in the same error shape.
const DAV_CODES = new Set(['method_not_allowed', 'precondition_failed']);
// The statuses only the resumable endpoint uses (src/resumable): tus's 412, 423 and 460, with contract codes.
const RESUMABLE_STATUS_TEXT: Record<number, string> = { 460: 'Checksum Mismatch' };

/** What is wrong with this answer, or null: no 5xx, no silence, and every 4xx the contract's JSON error. */
export function judge(req: FuzzRequest, res: RawResponse | null | undefined): string | null {
  if (res === undefined) return 'no answer in time';
  // Raw bytes that are not HTTP may be dropped without an answer; a request that is HTTP gets one.
  if (res === null) return req.raw ? null : 'connection closed without an answer';
  if (res.status >= 500) return `answered ${res.status}: ${res.text.slice(0, 300)}`;
  // The iOS Nextcloud app deletes the account on either: a valid token never gets them on that door.
  if (req.validToken && (res.status === 401 || res.status === 403)) return `valid token answered ${res.status}: ${res.text.slice(0, 200)}`;
  if (res.status < 400 || req.method === 'HEAD') return null;
  const body = res.body as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object') return `${res.status} without a JSON body: ${JSON.stringify(res.text.slice(0, 200))}`;
  if (!/^application\/json/.test(res.headers['content-type'] ?? ''))
    return `${res.status} with content-type ${res.headers['content-type']}`;
  const keys = Object.keys(body).sort().join(',');
  if (keys !== 'code,error,message,statusCode') return `${res.status} error body has keys ${keys}`;
  if (body.statusCode !== res.status || body.error !== (STATUS_CODES[res.status] ?? RESUMABLE_STATUS_TEXT[res.status]))
    return `${res.status} body says ${body.statusCode} ${String(body.error)}`;
  const dav = req.path.startsWith('/dav') || req.path.startsWith('/remote.php/') || (req.raw?.includes('/dav/') ?? false);
  if (!CONTRACT_CODES.has(String(body.code)) && !(dav && DAV_CODES.has(String(body.code))))
    return `${res.status} with code ${String(body.code)} outside the contract`;
  if (/\bat .+:\d+:\d+|node_modules|\/src\//.test(res.text)) return 'stack trace or source path in an error body';
  return null;
}

/** A request, short enough for a failure message. */
export function describeRequest(req: FuzzRequest): string {
  if (req.raw) return `RAW ${JSON.stringify(req.raw.subarray(0, 300).toString('latin1'))}`;
  const body = req.body.subarray(0, 300).toString('latin1');
  return `${req.method} ${req.path.slice(0, 300)} ${JSON.stringify(req.headers).slice(0, 400)} body(${req.body.length})=${JSON.stringify(body)}`;
}
