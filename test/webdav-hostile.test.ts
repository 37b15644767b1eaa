import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import http, { STATUS_CODES } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from './helpers/client.ts';
import { ADMIN_TOKEN, startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg, mp4, notMedia, png, sha256 } from './helpers/media.ts';
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { tap } from '../src/intake/body-tap.ts';

/**
 * Every hostile case of the ingest contract that applies to a WebDAV PUT (and the rest of the WebDAV door): each
 * one is refused with the JSON error shape, leaves no temp file, blob file, row or view entry behind, and the
 * relay takes a normal upload right after.
 */

const LIMIT = 200 * 1024;
let relay: TestRelay;
let phoneA: Client & { deviceId: string };
let phoneB: Client & { deviceId: string };

before(async () => {
  relay = await startRelay({ MAX_UPLOAD_BYTES: String(LIMIT) });
  const admin = new Client(relay.url);
  const account = await admin.createAccount('Hostile');
  [phoneA, phoneB] = [await admin.pairDevice(account, 'A'), await admin.pairDevice(account, 'B')];
});
after(() => relay?.close());

// ---- HTTP by hand (node:http sends paths exactly as given, and lets a test trickle or cut a body) ----

interface DavResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
}

type Auth = string | null;
const basic = (password: string, user = 'phone') => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function request(method: string, path: string, auth: Auth, headers: Record<string, string | number> = {}) {
  const { hostname, port } = new URL(relay.url);
  return http.request({ host: hostname, port, method, path, headers: { ...(auth ? { authorization: auth } : {}), ...headers } });
}

function answer(req: http.ClientRequest): Promise<DavResponse> {
  return new Promise((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
  });
}

function dav(
  method: string,
  path: string,
  auth: Auth,
  headers: Record<string, string | number> = {},
  body?: Buffer | string,
): Promise<DavResponse> {
  const req = request(method, path, auth, { ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}), ...headers });
  const res = answer(req);
  req.end(body);
  return res;
}

/** Send `body` in slices with pauses; report how much had gone out when the answer came. */
async function trickle(
  method: string,
  path: string,
  auth: Auth,
  headers: Record<string, string | number>,
  body: Buffer,
  slice = 16 * 1024,
) {
  const req = request(method, path, auth, headers);
  let sentAtAnswer: number | undefined;
  let sent = 0;
  const res = answer(req).then((r) => ((sentAtAnswer = sent), r));
  req.on('error', () => {});
  for (let offset = 0; offset < body.length && sentAtAnswer === undefined && !req.destroyed; offset += slice) {
    const part = body.subarray(offset, offset + slice);
    sent += part.length;
    req.write(part);
    await sleep(5);
  }
  if (sentAtAnswer === undefined && !req.destroyed) req.end();
  const r = await res;
  req.destroy();
  return { res: r, sentAtAnswer: sentAtAnswer! };
}

const A = () => basic(phoneA.token);
const B = () => basic(phoneB.token);

// ---- what a request may leave behind ----

async function snapshot() {
  const { blobs, db } = relay.services;
  const blobFiles = (await readdir(blobs.blobsDir, { recursive: true, withFileTypes: true }).catch(() => [])).filter((e) =>
    e.isFile(),
  ).length;
  const [tempFiles, rows] = await Promise.all([
    readdir(blobs.tmpDir),
    Promise.all([db.blob.count(), db.asset.count(), db.delivery.count(), db.davEntry.count()]),
  ]);
  return { tempFiles: tempFiles.length, blobFiles, blobs: rows[0], assets: rows[1], deliveries: rows[2], entries: rows[3] };
}

let uploads = 0;
/** Run an attack; afterwards nothing new may exist, and a normal upload must still work. */
async function hostile(attack: () => Promise<void>): Promise<void> {
  const before = await snapshot();
  await attack();
  const deadline = Date.now() + 5000;
  let now = await snapshot();
  while (JSON.stringify(now) !== JSON.stringify({ ...before, tempFiles: 0 }) && Date.now() < deadline) {
    await sleep(25);
    now = await snapshot();
  }
  assert.deepEqual(now, { ...before, tempFiles: 0 }, 'the request left something behind');
  const ok = await dav('PUT', `/dav/ok/IMG_${++uploads}.jpg`, A(), {}, jpeg(20_000));
  assert.equal(ok.status, 201, `relay unhealthy after the attack: ${ok.text}`);
}

/** The relay's error shape: JSON `{statusCode, code, error, message}`, never a stack trace. */
function assertError(res: DavResponse, status: number, code?: string): void {
  assert.equal(res.status, status, res.text);
  assert.ok(res.json && typeof res.json === 'object', `error body is not JSON: ${res.text}`);
  assert.deepEqual(Object.keys(res.json).sort(), ['code', 'error', 'message', 'statusCode'], res.text);
  assert.equal(res.json.statusCode, status);
  if (code) assert.equal(res.json.code, code, res.text);
  assert.equal(res.json.error, STATUS_CODES[status]);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.doesNotMatch(res.text, /\bat .+:\d+:\d+|node_modules|\/src\//, 'stack trace or source path in an error body');
}

describe('credentials', () => {
  it('no credentials: 401 with a Basic challenge, and an upload without them stores nothing', async () => {
    const res = await dav('PROPFIND', '/dav/', null, { depth: '0' });
    assertError(res, 401, 'unauthorized');
    assert.match(String(res.headers['www-authenticate']), /^Basic realm="[^"]+"/);
    await hostile(async () => assertError(await dav('PUT', '/dav/x/IMG.jpg', null, {}, jpeg(50_000)), 401, 'unauthorized'));
  });

  it('wrong, malformed, revoked and admin credentials are refused before the body is read', async () => {
    const admin = new Client(relay.url);
    const revoked = await admin.pairDevice(
      (await relay.services.db.device.findUniqueOrThrow({ where: { id: phoneA.deviceId } })).accountId,
      'gone',
    );
    assert.equal((await admin.call('DELETE', `/api/v1/admin/devices/${revoked.deviceId}`)).status, 204);
    const cases: [Auth, number][] = [
      [basic('prd_not-a-real-token'), 401],
      [basic('hunter2'), 401],
      [basic(''), 401],
      [`Basic ${Buffer.from(phoneA.token).toString('base64')}`, 401], // no "user:" part
      ['Basic %%%', 401],
      ['Digest username="phone"', 401],
      [basic(revoked.token), 401],
      [basic(ADMIN_TOKEN), 403],
    ];
    for (const [auth, status] of cases) {
      await hostile(async () => {
        const res = await dav('PUT', '/dav/x/IMG.jpg', auth, {}, jpeg(50_000));
        assertError(res, status);
        if (status === 401) assert.match(String(res.headers['www-authenticate']), /^Basic /);
      });
    }
    // The user name is informational; a bearer token works too.
    assert.equal((await dav('PROPFIND', '/dav/', basic(phoneA.token, 'anything at all'), { depth: '0' })).status, 207);
    assert.equal((await dav('PROPFIND', '/dav/', `Bearer ${phoneA.token}`, { depth: '0' })).status, 207);
  });
});

describe('broken connections', () => {
  /** Open a PUT declaring all of `bytes`, send `sent` of them, and wait until they reach the spool. */
  async function startPut(urlPath: string, bytes: Buffer, sent: number): Promise<net.Socket> {
    const { hostname, port } = new URL(relay.url);
    const socket = net.connect({ host: hostname, port: Number(port) });
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`PUT ${urlPath} HTTP/1.1\r\nHost: relay\r\nAuthorization: ${A()}\r\nContent-Length: ${bytes.length}\r\n\r\n`);
    socket.write(bytes.subarray(0, sent));
    const deadline = Date.now() + 10_000;
    while ((await readdir(relay.services.blobs.tmpDir)).length === 0 && Date.now() < deadline) await sleep(5);
    assert.ok((await readdir(relay.services.blobs.tmpDir)).length > 0, 'the upload never reached the spool');
    return socket;
  }

  it('a body shorter than its Content-Length (client half-closes): cleaned up, 400 incomplete_upload if answered', async () => {
    for (const name of ['IMG_short.jpg', 'IMG_short.jpg.part']) {
      await hostile(async () => {
        const socket = await startPut(`/dav/cut/${name}`, jpeg(150 * 1024), 100 * 1024);
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.end();
        await new Promise((resolve) => {
          socket.once('close', resolve);
          setTimeout(resolve, 5000);
        });
        const text = Buffer.concat(chunks).toString('utf8');
        if (text) {
          assert.match(text, /^HTTP\/1\.1 400 /);
          assert.match(text, /"code":"incomplete_upload"/);
        }
        socket.destroy();
      });
    }
  });

  it('a client gone before its body is read (while being authenticated): the upload ends, nothing waits for ever', async () => {
    // A request whose connection is already closed emits nothing more: the body stream must end by itself.
    const raw = new PassThrough() as unknown as IncomingMessage;
    raw.destroy();
    await new Promise((r) => setImmediate(r));
    const body = tap(raw);
    const outcome = await Promise.race([
      new Promise((resolve) => body.once('error', (err: NodeJS.ErrnoException) => resolve(err.code))),
      sleep(2000).then(() => 'still waiting'),
    ]);
    assert.equal(outcome, 'ECONNRESET');
    // And through the relay: headers and part of a body, then gone at once.
    for (let i = 0; i < 5; i++) {
      await hostile(async () => {
        const { hostname, port } = new URL(relay.url);
        const socket = net.connect({ host: hostname, port: Number(port) });
        socket.on('error', () => {});
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.write(`PUT /dav/cut/IMG_gone_${i}.jpg HTTP/1.1\r\nHost: relay\r\nAuthorization: ${A()}\r\nContent-Length: 150000\r\n\r\n`);
        socket.write(jpeg(150_000).subarray(0, 1000 * i));
        socket.resetAndDestroy();
      });
    }
  });

  it('a TCP reset mid-body: cleaned up', async () => {
    await hostile(async () => {
      const socket = await startPut('/dav/cut/IMG_reset.jpg', jpeg(150 * 1024), 100 * 1024);
      socket.resetAndDestroy();
    });
  });
});

describe('size limit', () => {
  it('declared Content-Length over the limit: 413 before the body is sent', async () => {
    await hostile(async () => {
      const body = jpeg(4 * 1024 * 1024);
      const { res, sentAtAnswer } = await trickle('PUT', '/dav/big/IMG.jpg', A(), { 'content-length': body.length }, body);
      assertError(res, 413, 'payload_too_large');
      assert.ok(sentAtAnswer < 1024 * 1024, `answered after ${sentAtAnswer} bytes`);
    });
  });

  it('chunked upload trickled past the limit, under a final or a temporary name: 413 while it is still being sent', async () => {
    for (const name of ['IMG.jpg', 'IMG.jpg.part']) {
      await hostile(async () => {
        const body = jpeg(4 * 1024 * 1024);
        const { res, sentAtAnswer } = await trickle('PUT', `/dav/big/${name}`, A(), { 'transfer-encoding': 'chunked' }, body);
        assertError(res, 413, 'payload_too_large');
        assert.ok(sentAtAnswer < 1024 * 1024, `answered after ${sentAtAnswer} bytes`);
      });
    }
  });

  it('a file of exactly the limit is accepted', async () => {
    const bytes = jpeg(LIMIT);
    const res = await dav('PUT', '/dav/exact/IMG.jpg', A(), {}, bytes);
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.etag, `"${sha256(bytes)}"`);
  });
});

describe('content', () => {
  it('not a photo or video (judged by content, whatever the name), or empty: 415', async () => {
    for (const [name, bytes] of [
      ['doc.jpg', notMedia(100_000)],
      ['doc.jpg.part', notMedia(100_000)],
      ['empty.jpg', Buffer.alloc(0)],
      ['tiny.mp4', Buffer.from('hello')],
    ] as const) {
      await hostile(async () => assertError(await dav('PUT', `/dav/media/${name}`, A(), {}, bytes), 415, 'unsupported_media_type'));
    }
  });

  it('a declared OC-Checksum that does not match: 422; one that matches is accepted', async () => {
    const bytes = png(30_000);
    await hostile(async () => {
      const res = await dav('PUT', '/dav/sum/IMG.png', A(), { 'oc-checksum': `SHA1:${'0'.repeat(40)}` }, bytes);
      assertError(res, 422, 'hash_mismatch');
    });
    const sha1 = createHash('sha1').update(bytes).digest('hex');
    assert.equal((await dav('PUT', '/dav/sum/IMG.png', A(), { 'oc-checksum': `SHA1:${sha1}` }, bytes)).status, 201);
  });

  it('a partial PUT (Content-Range) is refused rather than stored as a whole file', async () => {
    await hostile(async () => {
      const res = await dav('PUT', '/dav/range/IMG.jpg', A(), { 'content-range': 'bytes 0-49999/100000' }, jpeg(50_000));
      assertError(res, 400, 'validation_failed');
    });
  });

  it('a PUT onto a folder (405) or below a file (409) stores nothing', async () => {
    assert.equal((await dav('MKCOL', '/dav/folder/', A())).status, 201);
    assert.equal((await dav('PUT', '/dav/file.jpg', A(), {}, jpeg(10_000))).status, 201);
    await hostile(async () => assertError(await dav('PUT', '/dav/folder', A(), {}, mp4(30_000)), 405, 'method_not_allowed'));
    await hostile(async () => assertError(await dav('PUT', '/dav/file.jpg/inside.jpg', A(), {}, jpeg(30_000)), 409, 'conflict'));
  });
});

describe('paths', () => {
  it('traversal and malformed paths: 400, nothing stored, nothing outside the tree reached', async () => {
    const paths = [
      '/dav/../api/v1/device',
      '/dav/a/../../etc/passwd',
      '/dav/./IMG.jpg',
      '/dav/%2e%2e/IMG.jpg',
      '/dav/a/%2E%2E/%2e%2e/IMG.jpg',
      '/dav/a%2f..%2f..%2fIMG.jpg',
      '/dav/a%5c..%5cIMG.jpg',
      '/dav/IMG%00.jpg',
      '/dav/IMG%0a.jpg',
      '/dav/%zz.jpg',
      `/dav/${'x'.repeat(300)}.jpg`,
      `/dav/${Array.from({ length: 200 }, () => 'folder').join('/')}/IMG.jpg`,
    ];
    for (const p of paths) {
      await hostile(async () => {
        const res = await dav('PUT', p, A(), {}, jpeg(30_000));
        assertError(res, 400);
      });
      assertError(await dav('PROPFIND', p, A(), { depth: '1' }), 400);
    }
  });

  it('MOVE and COPY destinations are held to the same rules, and to the tree', async () => {
    assert.equal((await dav('PUT', '/dav/from/IMG.jpg.part', A(), {}, jpeg(10_000))).status, 201);
    const bad = ['/dav/../IMG.jpg', `${relay.url}/dav/%2e%2e/IMG.jpg`, '/api/v1/assets', 'IMG.jpg', `${relay.url}/dav/a%2f..%2fIMG.jpg`];
    for (const d of bad) {
      for (const method of ['MOVE', 'COPY']) {
        await hostile(async () => assertError(await dav(method, '/dav/from/IMG.jpg.part', A(), { destination: d }), 400));
      }
    }
    await hostile(async () => assertError(await dav('MOVE', '/dav/from/IMG.jpg.part', A()), 400));
    await hostile(async () => assertError(await dav('MOVE', '/dav/from/', A(), { destination: '/dav/from/inner/' }), 403));
    await hostile(async () =>
      assertError(await dav('MOVE', '/dav/from/IMG.jpg.part', A(), { destination: '/dav/from/IMG.jpg.part' }), 403),
    );
    await hostile(async () => assertError(await dav('MOVE', '/dav/', A(), { destination: '/dav/elsewhere/' }), 403));
    assert.equal((await dav('PUT', '/dav/from/other.jpg.part', A(), {}, jpeg(10_000))).status, 201);
    await hostile(async () =>
      assertError(
        await dav('MOVE', '/dav/from/IMG.jpg.part', A(), { destination: '/dav/from/other.jpg.part', overwrite: 'F' }),
        412,
        'precondition_failed',
      ),
    );
  });

  it("another device's path is not there: every method answers 404 and the owner's file is untouched", async () => {
    const bytes = jpeg(25_000);
    assert.equal((await dav('PUT', '/dav/Private/IMG_A.jpg', A(), {}, bytes)).status, 201);
    const own = await dav('PROPFIND', '/dav/Private/IMG_A.jpg', A(), { depth: '0' });
    await hostile(async () => {
      for (const [method, headers] of [
        ['PROPFIND', { depth: '0' }],
        ['GET', {}],
        ['HEAD', {}],
        ['DELETE', {}],
        ['MOVE', { destination: '/dav/Mine/IMG_A.jpg' }],
        ['COPY', { destination: '/dav/Mine/IMG_A.jpg' }],
      ] as const) {
        const res = await dav(method, '/dav/Private/IMG_A.jpg', B(), headers);
        assert.equal(res.status, 404, `${method}: ${res.text}`);
        if (method !== 'HEAD') assertError(res, 404, 'not_found');
      }
      const patch = await dav(
        'PROPPATCH',
        '/dav/Private/IMG_A.jpg',
        B(),
        {},
        '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getlastmodified>Mon, 01 Jan 2001 00:00:00 GMT</D:getlastmodified></D:prop></D:set></D:propertyupdate>',
      );
      assertError(patch, 404, 'not_found');
      const listing = await dav('PROPFIND', '/dav/', B(), { depth: 'infinity' });
      assert.equal(listing.status, 207);
      assert.doesNotMatch(listing.text, /IMG_A/);
    });
    assert.equal((await dav('PROPFIND', '/dav/Private/IMG_A.jpg', A(), { depth: '0' })).text, own.text);
    // B writing the same name makes B's own entry; A's stays as it was.
    assert.equal((await dav('PUT', '/dav/Private/IMG_A.jpg', B(), {}, jpeg(25_000))).status, 201);
    assert.equal((await dav('PROPFIND', '/dav/Private/IMG_A.jpg', A(), { depth: '0' })).text, own.text);
  });
});

describe('request bodies', () => {
  it('malformed, hostile or oversized XML is a 400 or 413, never a crash', async () => {
    const bodies: [string, string, number][] = [
      ['PROPFIND', '<D:propfind xmlns:D="DAV:"><D:prop>', 400],
      ['PROPFIND', '<propfind><prop><x:y/></prop></propfind>', 400],
      ['PROPFIND', 'not xml at all', 400],
      [
        'PROPFIND',
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><D:propfind xmlns:D="DAV:">&lol2;</D:propfind>',
        400,
      ],
      ['PROPFIND', `<D:propfind xmlns:D="DAV:">${'<D:prop>'.repeat(100)}${'</D:prop>'.repeat(100)}</D:propfind>`, 400],
      ['PROPFIND', `<D:propfind xmlns:D="DAV:"><D:prop>${'<D:displayname/>'.repeat(6000)}</D:prop></D:propfind>`, 413],
      [
        'PROPPATCH',
        '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getlastmodified>yesterday-ish</D:getlastmodified></D:prop></D:set></D:propertyupdate>',
        400,
      ],
      ['LOCK', '<D:lockinfo xmlns:D="DAV:"><D:lockscope>', 400],
    ];
    for (const [method, body, status] of bodies) {
      await hostile(async () =>
        assertError(await dav(method, '/dav/', A(), { depth: '0', 'content-type': 'application/xml' }, body), status),
      );
    }
    await hostile(async () => assertError(await dav('MKCOL', '/dav/withbody/', A(), { 'content-type': 'application/xml' }, '<x/>'), 415));
    await hostile(async () => assertError(await dav('PROPFIND', '/dav/', A(), { depth: '2' }), 400));
  });
});

describe('XML bodies cost linear time', () => {
  // The bugs this guards against took ≈ 8 s (attributes) and ≈ 1 s (namespaces) on a fast machine; a linear parser
  // takes what a benign body of as many elements takes. The bound is that benign body's time, measured here, under
  // the machine's present load (CI runs four files at once on 2 cores), times ALLOWANCE, and never under SLOW_MS.
  const SLOW_MS = 200;
  const ALLOWANCE = 5;
  const head = '<D:propfind xmlns:D="DAV:" ';
  /** Fill `prefix … suffix` with `unit` up to just under the 64 KiB cap. */
  const fill = (prefix: string, unit: string, suffix: string) =>
    prefix + unit.repeat(Math.floor((64 * 1024 - prefix.length - suffix.length) / unit.length)) + suffix;
  const namespaces = Array.from({ length: 2000 }, (_, i) => `xmlns:n${i}="u"`).join(' ');
  const elements = `<D:prop>${'<D:a/>'.repeat(4900)}</D:prop></D:propfind>`;
  const benign: [string, string] = ['PROPFIND', `${head}>${elements}`];
  const bodies: [string, string][] = [
    // One attribute-like run with no "=": the old attribute regex tried every start position to the end (≈ 8 s).
    ['PROPFIND', fill(head, 'a', '><D:prop/></D:propfind>')],
    ['PROPPATCH', fill('<D:propertyupdate xmlns:D="DAV:" ', 'b', '/>')],
    ['LOCK', fill('<D:lockinfo xmlns:D="DAV:" ', 'c', '/>')],
    ['PROPFIND', fill(head, 'x= ', '><D:prop/></D:propfind>')],
    ['PROPFIND', fill(head, `y='`, '><D:prop/></D:propfind>')],
    // 2,000 namespace declarations in scope of 4,900 elements: the old parser copied the scope into each (≈ 1 s).
    ['PROPFIND', `${head}${namespaces}>${elements}`],
  ];

  it(`64 KiB of hostile attributes or namespaces in a PROPFIND, PROPPATCH or LOCK is answered about as fast as a benign body, /healthz staying responsive`, async () => {
    let probing = true;
    let slowestHealthz = 0;
    const probe = (async () => {
      while (probing) {
        const t = performance.now();
        const res = await fetch(`${relay.url}/healthz`);
        await res.arrayBuffer();
        slowestHealthz = Math.max(slowestHealthz, performance.now() - t);
        await sleep(5);
      }
    })();
    const timed = async ([method, body]: [string, string]) => {
      assert.ok(Buffer.byteLength(body) <= 64 * 1024, `${Buffer.byteLength(body)} bytes`);
      const t = performance.now();
      const res = await dav(method, '/dav/', A(), { depth: '0', 'content-type': 'application/xml' }, body);
      const took = performance.now() - t;
      assert.ok(res.status < 500, `${method}: ${res.status} ${res.text.slice(0, 200)}`);
      if (res.status >= 400) assertError(res, res.status);
      return took;
    };
    let bound = SLOW_MS;
    try {
      // Warm the route up first: the first request of a kind pays for compilation, not for the body.
      await dav('PROPFIND', '/dav/', A(), { depth: '0' }, '<D:propfind xmlns:D="DAV:"><D:prop/></D:propfind>');
      await timed(benign);
      bound = Math.max(SLOW_MS, ALLOWANCE * (await timed(benign)));
      for (const [method, body] of bodies) {
        const took = await timed([method, body]);
        assert.ok(took < bound, `${method} of ${body.slice(30, 50)}…: answered after ${Math.round(took)} ms (bound ${Math.round(bound)} ms)`);
      }
    } finally {
      probing = false;
      await probe;
    }
    assert.ok(slowestHealthz < bound, `/healthz took ${Math.round(slowestHealthz)} ms meanwhile (bound ${Math.round(bound)} ms)`);
  });
});

describe('hostile headers and paths that used to answer 500', () => {
  it('OC-Checksum naming an inherited member ("constructor", "__proto__") is no checksum we know: ignored, not a 500', async () => {
    for (const [i, value] of ['constructor:abc', '__proto__:abc', 'toString:00', 'hasOwnProperty:ab SHA1:zz'].entries()) {
      const res = await dav('PUT', `/dav/proto/IMG_${i}.jpg`, A(), { 'oc-checksum': value }, jpeg(20_000 + i));
      assert.equal(res.status, 201, `${value}: ${res.status} ${res.text}`);
    }
  });

  it("MOVE or COPY of a folder whose children's new paths would exceed 1024 bytes: 400, and nothing moves", async () => {
    const deep = `/dav/deep/${'d'.repeat(250)}/${'e'.repeat(250)}/${'f'.repeat(250)}`;
    assert.equal((await dav('PUT', `${deep}/IMG.jpg.part`, A(), {}, jpeg(10_000))).status, 201);
    // The destination itself is well within the limit; the file below it is not (≈ 780 + 300 bytes).
    const destination = `/dav/${'g'.repeat(250)}/${'h'.repeat(50)}`;
    const listing = await dav('PROPFIND', '/dav/deep', A(), { depth: 'infinity' });
    for (const method of ['MOVE', 'COPY']) {
      await hostile(async () => {
        const res = await dav(method, '/dav/deep', A(), { destination });
        assertError(res, 400, 'validation_failed');
        assert.match(res.json.message, /1024 bytes/);
      });
    }
    assert.equal((await dav('PROPFIND', '/dav/deep', A(), { depth: 'infinity' })).text, listing.text, 'the source changed');
    assert.equal((await dav('PROPFIND', destination, A(), { depth: '0' })).status, 404, 'something arrived at the destination');
    // A destination that leaves room is fine.
    assert.equal((await dav('MOVE', '/dav/deep', A(), { destination: '/dav/d2' })).status, 201);
  });
});
