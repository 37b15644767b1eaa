import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat, statfs, truncate, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../src/http/errors.ts';
import { asIncomplete } from '../src/intake/incomplete.ts';
import { appendBody } from '../src/resumable/append.ts';
import { assertError } from './helpers/checks.ts';
import { Client } from './helpers/client.ts';
import { startRelay, startSibling, type TestRelay } from './helpers/harness.ts';
import { mp4, sha256 } from './helpers/media.ts';
import { chunk, LAST_CHUNK, RawConnection, requestHead } from './helpers/raw-http.ts';
import { call, createTus, openTusPatch, partFiles, partPath, patchTus, TUS } from './helpers/resumable.ts';
import { mountSmallFs, type SmallFs } from './helpers/small-fs.ts';

/**
 * Disk full on the resumable endpoint: 507 insufficient_storage, and the upload stays resumable once space returns.
 * Always: an append the spool has no room for (its Content-Length, above RESUMABLE_MIN_FREE_BYTES) is refused before a
 * byte is written. As root: a real file system that fills up mid-append (ENOSPC from the kernel).
 */

const MiB = 1024 * 1024;

async function deviceOf(relay: TestRelay, name: string) {
  const admin = new Client(relay.url);
  return admin.pairDevice(await admin.createAccount(name), `${name}'s phone`);
}

const fields = (id: string) => ({ deviceAssetId: id, fileName: `${id}.mp4` });

async function partSize(relay: TestRelay, url: string): Promise<number> {
  return (await stat(partPath(relay, url))).size;
}

async function offsetOf(relay: TestRelay, token: string, url: string): Promise<number> {
  const head = await call(relay, token, 'HEAD', url, TUS);
  assert.equal(head.status, 200);
  return Number(head.headers.get('upload-offset'));
}

describe('an append the spool has no room for', () => {
  let relay: TestRelay;
  before(async () => {
    // Any length passes MAX_UPLOAD_BYTES here: only the free space can refuse the append.
    relay = await startRelay({ MAX_UPLOAD_BYTES: String(2 ** 52) });
  });
  after(() => relay?.close());

  it('is refused with 507 before a byte is written, and the upload resumes with appends that fit', async () => {
    const phone = await deviceOf(relay, 'Room');
    const bytes = mp4(600_000);
    const url = await createTus(relay, phone.token, 'defer', fields('room'));
    assert.equal((await patchTus(relay, phone.token, url, 0, bytes.subarray(0, 200_000))).status, 204);

    // An append longer than the spool's free space: answered at once, its body never read.
    const { bavail, bsize } = await statfs(relay.config.spoolDir);
    const conn = await openTusPatch(relay.url, phone.token, url, 200_000, bavail * bsize + 2 ** 40, true);
    await conn.write(bytes.subarray(200_000, 300_000));
    const refused = await conn.responseWithin(10_000);
    conn.socket.destroy();
    assertError(refused, 507, 'insufficient_storage');
    assert.match(refused!.body.message, /keeps its 200000 bytes/);
    assert.equal(await offsetOf(relay, phone.token, url), 200_000, 'the offset did not move');
    assert.equal(await partSize(relay, url), 200_000, 'nothing was written past it');

    // RESUMABLE_MIN_FREE_BYTES: a relay that must keep more free than the disk has refuses even a small append. (A
    // second relay on the same database and spool, set up so; the first one stands for the space come back.)
    const strict = await startSibling(relay, { RESUMABLE_MIN_FREE_BYTES: String(2 ** 52) });
    try {
      assertError(await patchTus(strict, phone.token, url, 200_000, bytes.subarray(200_000, 300_000)), 507, 'insufficient_storage');
    } finally {
      await strict.close();
    }
    assert.equal(await offsetOf(relay, phone.token, url), 200_000);
    assert.equal(await partSize(relay, url), 200_000);

    const done = await patchTus(relay, phone.token, url, 200_000, bytes.subarray(200_000), { 'upload-length': String(bytes.length) });
    assert.equal(done.status, 204, JSON.stringify(done.body));
    const asset = await relay.services.db.asset.findUniqueOrThrow({ where: { id: done.headers.get('x-asset-id')! } });
    assert.equal(asset.blobSha256, sha256(bytes));
    assert.deepEqual(await partFiles(relay), []);
  });
});

describe('a disk that fills up mid-append (a real 24 MiB file system)', () => {
  let fs: SmallFs | { skip: string };
  let relay: TestRelay | undefined;
  before(async () => {
    fs = await mountSmallFs(24 * MiB);
    if ('dir' in fs) relay = await startRelay({ SPOOL_DIR: path.join(fs.dir, 'spool') });
  });
  after(async () => {
    await relay?.close();
    if ('dir' in fs) await fs.unmount();
  });

  it('answers 507, keeps what was written (durable), and completes once space returns', async (t) => {
    if (!relay) return t.skip((fs as { skip: string }).skip);
    const phone = await deviceOf(relay, 'Full');
    const bytes = mp4(12 * MiB);
    const url = await createTus(relay, phone.token, bytes.length, fields('full'));
    assert.equal((await patchTus(relay, phone.token, url, 0, bytes.subarray(0, 3 * MiB))).status, 204);

    // Fill the file system, then give back 1 MiB: the next append fits in part only.
    const filler = path.join((fs as SmallFs).dir, 'filler');
    const handle = await open(filler, 'w');
    try {
      const block = Buffer.alloc(256 * 1024, 1);
      for (;;) {
        const { bytesWritten } = await handle.write(block).catch(() => ({ bytesWritten: 0 }));
        if (bytesWritten < block.length) break;
      }
    } finally {
      await handle.close();
    }
    await truncate(filler, Math.max(0, (await stat(filler)).size - MiB));

    // A body of unknown length (chunked): no Content-Length to judge up front, so the disk itself says ENOSPC.
    const conn = await RawConnection.open(relay.url);
    await conn.write(
      requestHead('PATCH', url, {
        Authorization: `Bearer ${phone.token}`,
        'Tus-Resumable': '1.0.0',
        'Content-Type': 'application/offset+octet-stream',
        'Upload-Offset': 3 * MiB,
        'Transfer-Encoding': 'chunked',
        Connection: 'close',
      }),
    );
    await conn.trickle(bytes.subarray(3 * MiB), 64 * 1024, 0, chunk);
    await conn.write(LAST_CHUNK);
    const refused = await conn.responseWithin(10_000);
    conn.socket.destroy();
    assertError(refused, 507, 'insufficient_storage');
    const offset = await offsetOf(relay, phone.token, url);
    t.diagnostic(`offset after ENOSPC: ${offset}`);
    assert.ok(offset >= 3 * MiB && offset < bytes.length, `offset ${offset}`);
    assert.equal(await partSize(relay, url), offset, 'the file holds exactly the durable bytes');

    // Space returns: the upload goes on from its offset.
    await rm(filler);
    const done = await patchTus(relay, phone.token, url, offset, bytes.subarray(offset));
    assert.equal(done.status, 204, JSON.stringify(done.body));
    const asset = await relay.services.db.asset.findUniqueOrThrow({ where: { id: done.headers.get('x-asset-id')! } });
    assert.equal(asset.blobSha256, sha256(bytes));
    assert.deepEqual(await partFiles(relay), []);
  });
});

describe('ENOSPC from the write itself (any machine)', () => {
  /** A real file whose disk "fills" after `room` bytes: the write (the sink writes with FileHandle.write) that crosses it is short, or refused. */
  function filling(handle: FileHandle, room: number, how: 'short' | 'refused'): FileHandle {
    return new Proxy(handle, {
      get(target, prop) {
        if (prop !== 'write') return Reflect.get(target, prop).bind(target);
        return async (buffer: Buffer, offset: number, length: number, position: number) => {
          if (position + length <= room) return target.write(buffer, offset, length, position);
          if (how === 'refused') throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          const { bytesWritten } = await target.write(buffer, offset, Math.max(0, room - position), position);
          return { bytesWritten, buffer };
        };
      },
    });
  }

  for (const how of ['short', 'refused'] as const) {
    it(`a ${how} write: the append stops with ENOSPC, the file and the hash cover exactly the whole batches written`, async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'photo-relay-enospc-'));
      try {
        const file = path.join(dir, 'part');
        const handle = await open(file, 'w+');
        const body = mp4(5 * MiB + 12_345);
        const hash = createHash('sha256');
        const outcome = await appendBody(Readable.from([body.subarray(0, 2 * MiB + 5), body.subarray(2 * MiB + 5)]), {
          handle: filling(handle, 3 * MiB + 100_000, how),
          position: 0,
          limit: body.length,
          hashes: [hash],
          signal: new AbortController().signal,
        });
        await handle.close();
        assert.equal((outcome.error as NodeJS.ErrnoException).code, 'ENOSPC');
        assert.ok(outcome.written > 0 && outcome.written <= 3 * MiB + 100_000, `written ${outcome.written}`);
        const kept = await readFile(file);
        assert.equal(kept.length, outcome.written, 'a short write is taken back: the file holds exactly what was counted');
        assert.ok(kept.equals(body.subarray(0, outcome.written)));
        assert.equal(hash.digest('hex'), sha256(body.subarray(0, outcome.written)));
        // The relay's answer for it: 507, as for every door.
        const answer = asIncomplete(outcome.error);
        assert.ok(answer instanceof ApiError);
        assert.equal(answer.statusCode, 507);
        assert.equal(answer.code, 'insufficient_storage');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
