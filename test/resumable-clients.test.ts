import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tus from 'tus-js-client';
import { assertError, poll } from './helpers/checks.ts';
import { RawConnection, requestHead } from './helpers/raw-http.ts';
import { Client } from './helpers/client.ts';
import { cuttingProxy } from './helpers/cutting-proxy.ts';
import { assertDeliveredExactlyOnce, member, waitAllState } from './helpers/forwarding.ts';
import type { TestRelay } from './helpers/harness.ts';
import { jpeg, mp4, sha256 } from './helpers/media.ts';
import { resumableBytes } from './helpers/metrics.ts';
import { call, ietf, metadata, partFiles } from './helpers/resumable.ts';
import { startRig, type Rig } from './helpers/rig.ts';

/**
 * The resumable endpoint with a real client (tus-js-client, in its tus and IETF-draft modes, interrupted and resumed)
 * and the IETF draft's interop versions by hand (3: Upload-Incomplete; 5 and 6: Upload-Complete).
 */

let rig: Rig;
let relay: TestRelay;
let phone: Client & { deviceId: string };

before(async () => {
  // A relay forwarding to the Google Photos emulator: the cut uploads below must end forwarded once. The other tests'
  // account is not linked, so their uploads wait in the ledger.
  rig = await startRig();
  relay = rig.relay;
  phone = (await member(rig, 'Clients', { link: false })).phone;
});
after(() => rig?.close());

type Protocol = 'tus-v1' | 'ietf-draft-03' | 'ietf-draft-05';

// The installed typings predate the `protocol` option its code reads (tus-js-client 4.3.1: lib.esm/upload.js).
function options(
  protocol: Protocol,
  deviceAssetId: string,
  extra: Partial<tus.UploadOptions> = {},
  token = phone.token,
): tus.UploadOptions {
  return <tus.UploadOptions>{
    endpoint: `${relay.url}/api/v1/uploads`,
    protocol,
    chunkSize: 256 * 1024,
    retryDelays: [50, 100, 200, 400, 800],
    headers: { authorization: `Bearer ${token}` },
    metadata: { deviceAssetId, filename: `${deviceAssetId}.mp4` },
    ...extra,
  };
}

/** Run an upload to its end; resolves with the last response. */
function run(upload: tus.Upload): Promise<tus.HttpResponse | undefined> {
  return new Promise((resolve, reject) => {
    upload.options.onSuccess = (payload) => resolve(payload?.lastResponse);
    upload.options.onError = reject;
    upload.start();
  });
}

async function assetIdOf(response: tus.HttpResponse | undefined, url: string | null, token = phone.token): Promise<string> {
  const fromHeader = response?.getHeader('X-Asset-Id');
  if (fromHeader) return fromHeader;
  // A resumed upload may learn of its end from a HEAD (tus-js-client gives no response then): ask again.
  const head = await call(relay, token, 'HEAD', new URL(url!).pathname, { 'tus-resumable': '1.0.0' });
  return head.headers.get('x-asset-id')!;
}

for (const protocol of ['tus-v1', 'ietf-draft-03', 'ietf-draft-05'] as const) {
  describe(`tus-js-client, protocol ${protocol}`, () => {
    it('uploads in chunks, is aborted midway, resumes from the stored URL at the relay offset: one asset, the right hash', async () => {
      const bytes = mp4(2_000_000 + Math.floor(Math.random() * 1000));
      const id = `js-${protocol}`;
      let aborted = false;
      const first = new tus.Upload(bytes, options(protocol, id));
      await new Promise<void>((resolve, reject) => {
        first.options.onError = reject;
        first.options.onChunkComplete = (_size, accepted) => {
          if (!aborted && accepted >= 700_000) {
            aborted = true;
            void first.abort(false).then(resolve, reject);
          }
        };
        first.options.onSuccess = () => reject(new Error('finished before it could be aborted'));
        first.start();
      });
      assert.ok(first.url, 'the upload has a URL to resume from');
      const path = new URL(first.url).pathname;
      const row = await relay.services.db.resumableUpload.findUniqueOrThrow({ where: { id: path.split('/').pop()! } });
      assert.ok(Number(row.offset) >= 700_000 && Number(row.offset) < bytes.length, `offset after the abort: ${row.offset}`);

      const sent: number[] = [];
      const second = new tus.Upload(
        bytes,
        options(protocol, id, {
          uploadUrl: first.url,
          onBeforeRequest: (req) => {
            const offset = req.getHeader('Upload-Offset');
            if (req.getMethod() === 'PATCH' && offset !== undefined) sent.push(Number(offset));
          },
        }),
      );
      const last = await run(second);
      assert.equal(sent[0], Number(row.offset), 'the resumed upload started from the relay offset, not from 0');
      const assetId = await assetIdOf(last, second.url);
      const asset = await relay.services.db.asset.findUniqueOrThrow({ where: { id: assetId } });
      assert.equal(asset.blobSha256, sha256(bytes));
      assert.equal(asset.deviceAssetId, id);
      assert.equal(await relay.services.db.asset.count({ where: { blobSha256: sha256(bytes) } }), 1);
      assert.equal(await relay.services.db.delivery.count({ where: { blobSha256: sha256(bytes) } }), 1);
      assert.deepEqual(await partFiles(relay), []);
    });
  });
}

describe('tus-js-client, one request', () => {
  it('uploadDataDuringCreation with the whole file in the POST (tus creation-with-upload)', async () => {
    const bytes = jpeg(300_000);
    const upload = new tus.Upload(bytes, options('tus-v1', 'js-cwu', { chunkSize: Infinity, uploadDataDuringCreation: true }));
    const last = await run(upload);
    const asset = await relay.services.db.asset.findUniqueOrThrow({ where: { id: last!.getHeader('X-Asset-Id')! } });
    assert.equal(asset.blobSha256, sha256(bytes));
  });
});

describe('IETF draft by hand', () => {
  const meta = (id: string) => metadata({ deviceAssetId: id, fileName: `${id}.jpg` });

  it('interop 3: creation with Upload-Incomplete: ?1, HEAD, appends, the last without Upload-Incomplete answers the asset', async () => {
    const bytes = jpeg(200_000);
    const created = await call(
      relay,
      phone.token,
      'POST',
      '/api/v1/uploads',
      { ...ietf(3), 'upload-incomplete': '?1', 'upload-metadata': meta('v3') },
      bytes.subarray(0, 80_000),
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.get('upload-incomplete'), '?1');
    assert.equal(created.headers.get('upload-offset'), '80000');
    assert.equal(created.headers.get('tus-resumable'), null, 'a draft answer carries no tus header');
    const url = created.headers.get('location')!;
    const head = await call(relay, phone.token, 'HEAD', url, ietf(3));
    assert.equal(head.status, 204);
    assert.equal(head.headers.get('upload-offset'), '80000');
    assert.equal(head.headers.get('upload-incomplete'), '?1');
    assert.equal(head.headers.get('cache-control'), 'no-store');
    const mid = await call(
      relay,
      phone.token,
      'PATCH',
      url,
      { ...ietf(3), 'upload-offset': '80000', 'upload-incomplete': '?1' },
      bytes.subarray(80_000, 150_000),
    );
    assert.equal(mid.status, 204);
    assert.equal(mid.headers.get('upload-offset'), '150000');
    assertError(
      await call(relay, phone.token, 'PATCH', url, { ...ietf(3), 'upload-offset': '80000' }, bytes.subarray(80_000)),
      409,
      'conflict',
    );
    const done = await call(relay, phone.token, 'PATCH', url, { ...ietf(3), 'upload-offset': '150000' }, bytes.subarray(150_000));
    assert.equal(done.status, 201, JSON.stringify(done.body));
    assert.equal(done.headers.get('upload-incomplete'), '?0');
    assert.equal(done.body.sha256, sha256(bytes));
    assert.equal(done.headers.get('x-asset-id'), done.body.id);
    const after = await call(relay, phone.token, 'HEAD', url, ietf(3));
    assert.equal(after.headers.get('upload-incomplete'), '?0');
    assert.equal(after.headers.get('x-asset-id'), done.body.id);
  });

  for (const version of [5, 6, 8]) {
    it(`interop ${version}: creation without a body, appends with Upload-Complete, Repr-Digest verified, DELETE`, async () => {
      const bytes = jpeg(200_000);
      const type: Record<string, string> = version >= 6 ? { 'content-type': 'application/partial-upload' } : {};
      const created = await call(relay, phone.token, 'POST', '/api/v1/uploads', {
        ...ietf(version),
        'upload-complete': '?0',
        'upload-length': String(bytes.length),
        'upload-metadata': meta(`v${version}`),
        'repr-digest': `sha-256=:${Buffer.from(sha256(bytes), 'hex').toString('base64')}:`,
      });
      assert.equal(created.status, 201);
      assert.equal(created.headers.get('upload-complete'), '?0');
      if (version >= 6) assert.match(created.headers.get('upload-limit')!, /max-append-size=67108864/);
      const url = created.headers.get('location')!;
      const mid = await call(
        relay,
        phone.token,
        'PATCH',
        url,
        { ...ietf(version), ...type, 'upload-offset': '0', 'upload-complete': '?0' },
        bytes.subarray(0, 120_000),
      );
      assert.equal(mid.status, 204);
      assert.equal(mid.headers.get('upload-offset'), '120000');
      const head = await call(relay, phone.token, 'HEAD', url, ietf(version));
      assert.equal(head.headers.get('upload-complete'), '?0');
      assert.equal(head.headers.get('upload-length'), String(bytes.length));
      const done = await call(
        relay,
        phone.token,
        'PATCH',
        url,
        { ...ietf(version), ...type, 'upload-offset': '120000', 'upload-complete': '?1' },
        bytes.subarray(120_000),
      );
      assert.equal(done.status, 201, JSON.stringify(done.body));
      assert.equal(done.headers.get('upload-complete'), '?1');
      assert.equal(done.body.sha256, sha256(bytes));

      // A Repr-Digest that does not match: nothing registered.
      const other = jpeg(100_000);
      const bad = await call(
        relay,
        phone.token,
        'POST',
        '/api/v1/uploads',
        {
          ...ietf(version),
          'upload-complete': '?1',
          'upload-metadata': meta(`v${version}-bad`),
          'repr-digest': `sha-256=:${Buffer.alloc(32).toString('base64')}:`,
        },
        other,
      );
      assertError(bad, 422, 'hash_mismatch');
      assert.equal(await relay.services.db.blob.count({ where: { sha256: sha256(other) } }), 0);

      // Cancellation.
      const cancelled = await call(
        relay,
        phone.token,
        'POST',
        '/api/v1/uploads',
        { ...ietf(version), 'upload-complete': '?0', 'upload-metadata': meta(`v${version}-del`) },
        other.subarray(0, 70_000),
      );
      const cancelUrl = cancelled.headers.get('location')!;
      assert.equal((await call(relay, phone.token, 'DELETE', cancelUrl, ietf(version))).status, 204);
      assert.equal((await call(relay, phone.token, 'HEAD', cancelUrl, ietf(version))).status, 404);
      assert.deepEqual(await partFiles(relay), []);
    });
  }

  it('a whole upload in one creation request (Upload-Complete: ?1) answers the asset with its Location', async () => {
    const bytes = jpeg(90_000);
    const res = await call(
      relay,
      phone.token,
      'POST',
      '/api/v1/uploads',
      { ...ietf(6), 'upload-complete': '?1', 'upload-metadata': meta('one-shot') },
      bytes,
    );
    assert.equal(res.status, 201);
    assert.ok(res.headers.get('location'));
    assert.equal(res.body.sha256, sha256(bytes));
  });

  it('refuses an unknown interop version, a missing Upload-Complete, and an append of the wrong type (v6)', async () => {
    assertError(
      await call(relay, phone.token, 'POST', '/api/v1/uploads', { ...ietf(2), 'upload-complete': '?0', 'upload-metadata': meta('x') }),
      400,
      'validation_failed',
    );
    assertError(
      await call(relay, phone.token, 'POST', '/api/v1/uploads', { ...ietf(6), 'upload-metadata': meta('x') }),
      400,
      'validation_failed',
    );
    const created = await call(relay, phone.token, 'POST', '/api/v1/uploads', {
      ...ietf(6),
      'upload-complete': '?0',
      'upload-metadata': meta('type'),
    });
    const url = created.headers.get('location')!;
    assertError(
      await call(
        relay,
        phone.token,
        'PATCH',
        url,
        { ...ietf(6), 'content-type': 'image/jpeg', 'upload-offset': '0', 'upload-complete': '?1' },
        jpeg(1000),
      ),
      400,
      'validation_failed',
    );
    assert.equal((await call(relay, phone.token, 'DELETE', url, ietf(6))).status, 204);
  });
});

describe('104 Upload Resumption Supported', () => {
  it('a draft creation with a body gets a 104 with the Location before the body is read, then the final answer', async () => {
    const bytes = jpeg(300_000);
    const conn = await RawConnection.open(relay.url);
    const received: Buffer[] = [];
    conn.socket.on('data', (chunk: Buffer) => received.push(chunk));
    await conn.write(
      requestHead('POST', '/api/v1/uploads', {
        Authorization: `Bearer ${phone.token}`,
        'Upload-Draft-Interop-Version': 6,
        'Upload-Complete': '?1',
        'Upload-Metadata': metadata({ deviceAssetId: 'interim', fileName: 'interim.jpg' }),
        'Content-Length': bytes.length,
        Connection: 'close',
      }),
    );
    await conn.write(bytes.subarray(0, 1000));
    const early = await poll(
      async () => Buffer.concat(received).toString('latin1'),
      (text) => text.includes('\r\n\r\n'),
    );
    assert.match(
      early,
      /^HTTP\/1\.1 104 Upload Resumption Supported\r\nLocation: \/api\/v1\/uploads\/[0-9a-f-]{36}\r\nUpload-Draft-Interop-Version: 6\r\n\r\n$/,
    );
    await conn.write(bytes.subarray(1000));
    await conn.closed;
    const text = Buffer.concat(received).toString('latin1');
    const final = text.slice(text.indexOf('\r\n\r\n') + 4);
    assert.match(final, /^HTTP\/1\.1 201 /);
    assert.ok(final.includes(sha256(bytes)));
  });

  it('tus requests and draft creations without a body get no 1xx', async () => {
    const conn = await RawConnection.open(relay.url);
    await conn.write(
      requestHead('POST', '/api/v1/uploads', {
        Authorization: `Bearer ${phone.token}`,
        'Upload-Draft-Interop-Version': 6,
        'Upload-Complete': '?0',
        'Upload-Metadata': metadata({ deviceAssetId: 'interim-empty', fileName: 'x.jpg' }),
        Connection: 'close',
      }),
    );
    const res = await conn.response;
    assert.equal(res?.status, 201);
  });
});

const VIDEO_BYTES = 64 * 1024 * 1024;
let video: Buffer | undefined;
/** The 64 MiB video, generated once for the file; each protocol's copy is new content (its number in the last bytes). */
function videoFor(n: number): Buffer {
  video ??= mp4(VIDEO_BYTES);
  video.writeUInt32BE(n, VIDEO_BYTES - 4);
  return video;
}

// What one cut may cost on the relay: bytes read off the socket but not yet in the append's batches when the request
// broke (the sink's queue of 64 KiB, a chunk past it, the rest of a chunk being copied). What reached a batch is kept.
const IN_FLIGHT_BYTES = 256 * 1024;

for (const [n, protocol] of (['tus-v1', 'ietf-draft-03', 'ietf-draft-05'] as const).entries()) {
  describe(`tus-js-client through a proxy that cuts the connection twice, protocol ${protocol}`, () => {
    it('a 64 MiB video in one PATCH resumes from the relay offset each time: each byte appended once, forwarded once', async (t) => {
      const bytes = videoFor(n);
      const sha = sha256(bytes);
      const cuts = [20_000_000, 45_000_000];
      const m = await member(rig, `Cut ${protocol}`);
      const proxy = await cuttingProxy(relay.url, cuts);
      const before = await resumableBytes(relay.url);
      try {
        const starts: number[] = [];
        const upload = new tus.Upload(
          bytes,
          options(
            protocol,
            `cut-${protocol}`,
            {
              endpoint: `${proxy.url}/api/v1/uploads`,
              chunkSize: Infinity,
              retryDelays: [100, 200, 400, 800, 1600],
              onBeforeRequest: (req) => {
                const offset = req.getHeader('Upload-Offset');
                if (req.getMethod() === 'PATCH' && offset !== undefined) starts.push(Number(offset));
              },
            },
            m.phone.token,
          ),
        );
        const last = await run(upload);
        const after = await resumableBytes(relay.url);
        const received = after.received - before.received;
        const appended = after.appended - before.appended;
        t.diagnostic(`PATCH offsets ${starts.join(', ')}; relay received ${received} B, appended ${appended} B of ${bytes.length}`);
        assert.equal(proxy.cutsLeft(), 0, 'the proxy did not cut twice');

        // Counted on the relay: it appended each byte of the file exactly once (it appends only at the durable offset,
        // so a client starting over, or a byte taken twice, would show here), and read little more than the file:
        // at most what each cut request still had between the socket and the disk.
        assert.equal(appended, bytes.length, 'bytes appended durably, over every request of the upload');
        assert.ok(received >= appended, `received ${received}`);
        assert.ok(received - appended <= cuts.length * IN_FLIGHT_BYTES, `received ${received - appended} bytes more than the file`);
        assert.equal(await relay.services.db.resumableUpload.count({ where: { deviceId: m.phone.deviceId } }), 1, 'one upload, resumed');

        // And as the client saw it: each resume starts where the relay's disk left off, never behind an earlier one,
        // and at least one resume starts past 0. (Not strictly forward each time: on a loaded machine the relay may not
        // have taken a cut connection's last bytes before the client asks for the offset; it then refuses the PATCH.)
        assert.ok(starts.length >= 3, `PATCH offsets: ${starts.join(', ')}`);
        assert.equal(starts[0], 0);
        for (let i = 1; i < starts.length; i++) {
          assert.ok(starts[i]! >= starts[i - 1]!, `a resumed PATCH went back: ${starts.join(', ')}`);
        }
        assert.ok(starts[starts.length - 1]! > 0, `no resume started past 0: ${starts.join(', ')}`);

        // One blob, one asset, one delivery, forwarded once.
        const assetId = await assetIdOf(last, upload.url!.replace(proxy.url, relay.url), m.phone.token);
        const asset = await relay.services.db.asset.findUniqueOrThrow({ where: { id: assetId } });
        assert.equal(asset.blobSha256, sha);
        assert.equal(await relay.services.db.blob.count({ where: { sha256: sha } }), 1);
        assert.equal(await relay.services.db.asset.count({ where: { blobSha256: sha } }), 1);
        assert.equal(await relay.services.db.delivery.count({ where: { blobSha256: sha } }), 1);
        await waitAllState(rig, m.accountId, 'backed_up', 60_000, 1);
        await assertDeliveredExactlyOnce(rig, m, [sha]);
      } finally {
        await proxy.close();
      }
    });
  });
}
