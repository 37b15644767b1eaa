import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiError, NetworkError } from '../src/cli/errors.ts';
import { isRetryable, parseRetryAfter, RelayClient, withRetries } from '../src/cli/http.ts';
import { envelope, uploadAsset } from '../src/cli/push/multipart.ts';
import { deviceAssetIdOf, fileNameOf, hashFile, scan } from '../src/cli/push/scan.ts';
import { bytes, duration } from '../src/cli/format.ts';
import { jpeg, sha256 } from './helpers/media.ts';

/** The CLI's pieces without a relay: retries, the streamed multipart body, the folder walk. */

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;
let handler: Handler;
let url: string;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => handler(req, res, Buffer.concat(chunks)));
});
let dir: string;

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(path.join(tmpdir(), 'photo-relay-cli-units-'));
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const FAST = { retries: 3, baseDelayMs: 1, maxDelayMs: 5 };
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};

describe('retries', () => {
  it('retries 503 and 429, honouring Retry-After, then answers', async () => {
    const statuses = [503, 429, 200];
    const seen: number[] = [];
    handler = (_req, res) => {
      const status = statuses.shift()!;
      seen.push(Date.now());
      if (status === 200) return json(res, 200, { ok: true });
      json(
        res,
        status,
        { statusCode: status, code: status === 429 ? 'rate_limited' : 'not_ready', error: 'x', message: 'wait' },
        { 'retry-after': '1' },
      );
    };
    const client = new RelayClient(url, 'token', FAST);
    assert.deepEqual(await client.post('/x', { a: 1 }), { ok: true });
    assert.equal(seen.length, 3);
    assert.ok(seen[1]! - seen[0]! >= 950 && seen[2]! - seen[1]! >= 950, 'waited Retry-After each time');
  });

  it('does not repeat a POST the relay may have acted on (500), but repeats a GET', async () => {
    let calls = 0;
    handler = (_req, res) => {
      calls++;
      json(res, 500, { statusCode: 500, code: 'internal', error: 'Internal Server Error', message: 'boom' });
    };
    const client = new RelayClient(url, 'token', FAST);
    await assert.rejects(client.post('/x', {}), (err: ApiError) => err.code === 'internal' && err.status === 500 && err.exitCode === 1);
    assert.equal(calls, 1);
    calls = 0;
    await assert.rejects(client.get('/x'), ApiError);
    assert.equal(calls, 4);
  });

  it('keeps the contract code and message, and maps 401 to a configuration error', async () => {
    handler = (_req, res) =>
      json(res, 401, { statusCode: 401, code: 'unauthorized', error: 'Unauthorized', message: 'Invalid admin token' });
    const err = await new RelayClient(url, 'bad', FAST).get('/x').catch((e: unknown) => e);
    assert.ok(err instanceof ApiError);
    assert.equal(err.message, 'unauthorized: Invalid admin token (HTTP 401)');
    assert.equal(err.exitCode, 2);
  });

  it('classifies failures', () => {
    const refused = new NetworkError(url, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const reset = new NetworkError(url, Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    assert.equal(isRetryable(refused, 'unsent'), true);
    assert.equal(isRetryable(reset, 'unsent'), false);
    assert.equal(isRetryable(reset, 'always'), true);
    assert.equal(isRetryable(new ApiError(415, 'unsupported_media_type', 'no'), 'always'), false);
    assert.equal(isRetryable(new ApiError(502, 'http_502', 'bad gateway'), 'always'), true);
    assert.equal(isRetryable(new ApiError(507, 'insufficient_storage', 'full'), 'always'), false);
    assert.equal(parseRetryAfter('7'), 7000);
    assert.equal(parseRetryAfter(new Date(Date.now() + 60_000).toUTCString())! > 50_000, true);
    assert.equal(parseRetryAfter('soon'), undefined);
  });

  it('gives up after the retries and throws the last error', async () => {
    let n = 0;
    const err = await withRetries('op', 'always', FAST, async () => {
      n++;
      throw new ApiError(503, 'not_ready', 'down');
    }).catch((e: unknown) => e);
    assert.equal(n, 4);
    assert.ok(err instanceof ApiError && err.code === 'not_ready');
  });
});

describe('multipart upload', () => {
  it('streams text fields first, then the file, with an exact Content-Length', async () => {
    const bytesOnDisk = jpeg(300_000);
    const file = path.join(dir, 'IMG é.jpg');
    await writeFile(file, bytesOnDisk);
    let received: { headers: IncomingMessage['headers']; body: Buffer } | undefined;
    handler = (req, res, body) => {
      received = { headers: req.headers, body };
      json(res, 201, {
        id: 'a',
        sha256: sha256(bytesOnDisk),
        size: body.length,
        mimeType: 'image/jpeg',
        state: 'pending',
        duplicate: false,
      });
    };
    const fields = {
      deviceAssetId: 'DCIM/IMG é.jpg',
      fileName: 'IMG é.jpg',
      fileCreatedAt: '2021-06-01T12:00:00.000Z',
      sha256: sha256(bytesOnDisk),
    };
    let progress = 0;
    const res = await uploadAsset(url, 'prd_x', { abs: file, size: bytesOnDisk.length, fields }, { onBytes: (d) => (progress += d) });
    assert.equal(res.status, 201);
    assert.equal(progress, bytesOnDisk.length);
    assert.ok(received);
    assert.equal(received.headers.authorization, 'Bearer prd_x');
    const boundary = /boundary=(.+)$/.exec(received.headers['content-type']!)![1]!;
    assert.equal(Number(received.headers['content-length']), received.body.length);
    const text = received.body.toString('latin1');
    const order = ['deviceAssetId', 'fileName', 'fileCreatedAt', 'sha256', 'file'].map((n) => text.indexOf(`name="${n}"`));
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
      'text fields come before the file part',
    );
    assert.ok(received.body.includes(Buffer.from('DCIM/IMG é.jpg', 'utf8')), 'field values are UTF-8');
    assert.ok(received.body.includes(bytesOnDisk), 'the file bytes, whole');
    assert.ok(text.endsWith(`\r\n--${boundary}--\r\n`));
    assert.equal(envelope({ abs: file, size: bytesOnDisk.length, fields }, boundary).length, received.body.length);
  });

  it('takes an early answer (415 before the body is in) as the answer', async () => {
    const big = path.join(dir, 'junk.bin');
    await writeFile(big, Buffer.alloc(20_000_000, 7));
    handler = () => {};
    const early = (req: IncomingMessage, res: ServerResponse) => {
      let got = 0;
      req.on('data', (c: Buffer) => {
        got += c.length;
        if (got > 70_000 && !res.headersSent) {
          res.setHeader('connection', 'close');
          json(res, 415, { statusCode: 415, code: 'unsupported_media_type', error: 'Unsupported Media Type', message: 'not media' });
          req.socket.end();
        }
      });
    };
    server.prependListener('request', early);
    try {
      let progress = 0;
      const err = await withRetries('upload', 'always', FAST, () =>
        uploadAsset(
          url,
          'prd_x',
          { abs: big, size: 20_000_000, fields: { deviceAssetId: 'junk', fileName: 'junk.bin' } },
          { onBytes: (d) => (progress += d) },
        ),
      ).catch((e: unknown) => e);
      assert.ok(err instanceof ApiError, String(err));
      assert.equal(err.status, 415);
      assert.equal(progress, 0, 'the bytes of a rejected upload are taken back from the progress');
    } finally {
      server.off('request', early);
    }
  });
});

describe('folder walk', () => {
  it('finds regular, non-hidden files recursively and names them by relative path', async () => {
    const root = path.join(dir, 'walk');
    for (const rel of ['a.jpg', 'sub/b.png', 'sub/deeper/c.mp4', '.hidden.jpg', '.cache/d.jpg', 'sub/.e.jpg']) {
      await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
      await writeFile(path.join(root, rel), rel);
    }
    const { files, unreadable } = await scan(root);
    assert.deepEqual(
      files.map((f) => f.rel),
      ['a.jpg', 'sub/b.png', 'sub/deeper/c.mp4'],
    );
    assert.deepEqual(unreadable, []);
    assert.deepEqual(await hashFile(path.join(root, 'a.jpg')), { sha256: sha256(Buffer.from('a.jpg')), size: 5 });
    assert.equal(fileNameOf('sub/deeper/c.mp4'), 'c.mp4');
  });

  it('keeps a deviceAssetId within 255 characters, stable and unique', () => {
    const long = `${'x'.repeat(300)}/IMG_0001.jpg`;
    const id = deviceAssetIdOf(long);
    assert.equal(id.length, 255);
    assert.ok(id.endsWith('/IMG_0001.jpg'));
    assert.equal(deviceAssetIdOf(long), id);
    assert.notEqual(deviceAssetIdOf(`y${long}`), id);
    assert.equal(deviceAssetIdOf('DCIM/a.jpg'), 'DCIM/a.jpg');
  });

  it('formats human units', () => {
    assert.equal(bytes(0), '0 B');
    assert.equal(bytes(1234), '1.23 kB');
    assert.equal(bytes(31_280_320), '31.3 MB');
    assert.equal(duration(0.42), '0.4 s');
    assert.equal(duration(3600 * 5 + 180), '5 h 3 min');
    assert.equal(duration(86_400 * 3 + 3600 * 4), '3 d 4 h');
  });
});
