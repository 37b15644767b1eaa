import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { BlobStore } from '../src/ingest/blob-store.ts';
import { SNIFF_BYTES } from '../src/media/sniff.ts';
import { ApiError } from '../src/http/errors.ts';
import { Client } from './helpers/client.ts';
import { poll } from './helpers/checks.ts';
import { listFiles, residue, startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg, notMedia, sha256 } from './helpers/media.ts';
import { multipart, RawConnection, requestHead } from './helpers/raw-http.ts';
import { prng } from './helpers/prng.ts';

describe('simultaneous uploads of the same content', () => {
  let relay: TestRelay;
  let devices: Array<Client & { deviceId: string }>;
  let accounts: string[];

  before(async () => {
    relay = await startRelay();
    const admin = new Client(relay.url);
    accounts = [await admin.createAccount('Ann'), await admin.createAccount('Ben')];
    devices = [
      await admin.pairDevice(accounts[0]!, 'Ann phone'),
      await admin.pairDevice(accounts[0]!, 'Ann tablet'),
      await admin.pairDevice(accounts[1]!, 'Ben phone'),
    ];
  });
  after(() => relay?.close());

  /**
   * Ten uploads of `bytes` (4, 3 and 3 from the three devices) held at a barrier: every body is sent but its last
   * bytes, every upload has its temp file, then all are released at once so they race to commit.
   */
  async function raceUploads(bytes: Buffer) {
    const owners = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
    const bodies = owners.map((owner, i) =>
      multipart([
        // Some share the deviceAssetId, some do not: dedupe is by (device, content) either way.
        { name: 'deviceAssetId', value: i % 2 ? `same-${owner}` : `other-${i}` },
        { name: 'sha256', value: sha256(bytes) },
        { name: 'file', value: bytes, filename: `IMG_${i}.jpg`, contentType: 'image/jpeg' },
      ]),
    );
    const held = 2048;
    const conns = await Promise.all(
      bodies.map(async ({ body, contentType }, i) => {
        const conn = await RawConnection.open(relay.url);
        await conn.write(
          requestHead('POST', '/api/v1/assets', {
            Authorization: `Bearer ${devices[owners[i]!]!.token}`,
            'Content-Type': contentType,
            'Content-Length': body.length,
          }),
        );
        await conn.write(body.subarray(0, body.length - held));
        return conn;
      }),
    );
    const temps = await poll(
      () => readdir(relay.services.blobs.tmpDir),
      (files) => files.length === owners.length,
      10_000,
    );
    assert.equal(temps.length, owners.length, 'not every upload reached the barrier');
    await Promise.all(conns.map((conn, i) => conn.write(bodies[i]!.body.subarray(bodies[i]!.body.length - held))));
    const answers = await Promise.all(conns.map((conn) => conn.response));
    for (const conn of conns) conn.socket.destroy();
    return owners.map((owner, i) => ({ owner, res: answers[i] }));
  }

  for (const size of [300_000, 3_000_000]) {
    it(`10 uploads of one ${size}-byte content from 3 devices of 2 accounts: one blob, one asset per device, one delivery per account`, async () => {
      const bytes = jpeg(size);
      const hash = sha256(bytes);
      const results = await raceUploads(bytes);

      for (const { res } of results) assert.ok(res && (res.status === 201 || res.status === 200), `unexpected answer ${res?.status} ${res?.text}`);
      for (const owner of [0, 1, 2]) {
        const mine = results.filter((r) => r.owner === owner).map((r) => r.res!);
        assert.equal(mine.filter((r) => r.status === 201).length, 1, `device ${owner}: exactly one 201`);
        for (const r of mine) {
          assert.equal(r.body.duplicate, r.status === 200);
          assert.equal(r.body.sha256, hash);
          assert.equal(r.body.size, size);
          assert.equal(r.body.id, mine[0]!.body.id, 'every answer names the same asset');
        }
      }

      const { db, blobs } = relay.services;
      const files = (await listFiles(blobs.blobsDir)).filter((f) => f.endsWith(hash));
      assert.deepEqual(files, [blobs.pathOf(hash)], 'exactly one blob file, at its content address');
      assert.equal(sha256(await readFile(files[0]!)), hash, "the blob file's content matches its name");
      assert.equal(await db.blob.count({ where: { sha256: hash } }), 1);
      const assets = await db.asset.findMany({ where: { blobSha256: hash } });
      assert.deepEqual(assets.map((a) => a.deviceId).sort(), devices.map((d) => d.deviceId).sort(), 'one asset per device');
      const deliveries = await db.delivery.findMany({ where: { blobSha256: hash } });
      assert.deepEqual(deliveries.map((d) => d.accountId).sort(), [...accounts].sort(), 'one delivery per account');
      assert.deepEqual((await residue(relay)).tempFiles, []);
    });
  }

  it('repeats after the race are duplicates too, and by-hash agrees', async () => {
    const bytes = jpeg(100_000);
    const first = await Promise.all(devices.map((d) => d.upload(bytes)));
    assert.deepEqual(first.map((r) => r.status), [201, 201, 201]);
    const again = await Promise.all([...devices, ...devices].map((d) => d.upload(bytes)));
    assert.deepEqual(again.map((r) => [r.status, r.body.duplicate]), Array(6).fill([200, true]));
    const byHash = await devices[0]!.call('POST', '/api/v1/assets/by-hash', { sha256: sha256(bytes), deviceAssetId: 'x', fileName: 'x.jpg' });
    assert.deepEqual([byHash.status, byHash.body.id], [200, first[0]!.body.id]);
  });
});


describe('BlobStore.receive byte arithmetic (property)', () => {
  let root: string;
  let store: BlobStore;
  const seed = Number(process.env.SEED ?? 0x5eed);

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'photo-relay-prop-'));
    store = new BlobStore(path.join(root, 'spool'));
    await store.init();
  });
  after(() => rm(root, { recursive: true, force: true }));

  const EDGES = [1, 2, 100, SNIFF_BYTES - 1, SNIFF_BYTES, SNIFF_BYTES + 1, 2 * SNIFF_BYTES, 2 * SNIFF_BYTES + 1];

  function chunking(rand: () => number, bytes: Buffer): Buffer[] {
    const style = Math.floor(rand() * 4);
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < bytes.length; ) {
      const n =
        style === 0
          ? 1 + Math.floor(rand() * 16) // tiny pieces
          : style === 1
            ? 1 + Math.floor(rand() * 70_000) // around the sniff window
            : style === 2
              ? bytes.length // all at once
              : 1 + Math.floor(rand() * 5000);
      chunks.push(bytes.subarray(offset, offset + n));
      offset += n;
      if (rand() < 0.05) chunks.push(Buffer.alloc(0)); // empty writes must change nothing
    }
    return chunks;
  }

  it('random content × random chunking: stored hash and size equal the input, whatever the split', async () => {
    const rand = prng(seed);
    for (let i = 0; i < 150; i++) {
      const bytes = jpeg(rand() < 0.3 ? EDGES[Math.floor(rand() * EDGES.length)]! : Math.floor(rand() * 300_000));
      const size = bytes.length; // the smallest JPEG helper output is 22 bytes
      const chunks = chunking(rand, bytes);
      const where = `seed ${seed}, case ${i}: ${size} bytes in ${chunks.length} chunks`;
      const temp = await store.receive(Readable.from(chunks), size + Math.floor(rand() * 3));
      assert.equal(temp.sha256, sha256(bytes), where);
      assert.equal(temp.size, size, where);
      const onDisk = await readFile(temp.tempPath);
      assert.equal(onDisk.length, size, where);
      assert.equal(createHash('sha256').update(onDisk).digest('hex'), sha256(bytes), where);
      if (rand() < 0.2) {
        await store.commit(temp);
        assert.equal(sha256(await readFile(store.pathOf(temp.sha256))), temp.sha256, where);
      } else await store.discard(temp.tempPath);
    }
    assert.deepEqual(await readdir(store.tmpDir), []);
  });

  it('over the limit or not media, whatever the split: the right error and no temp file', async () => {
    const rand = prng(seed + 1);
    for (let i = 0; i < 60; i++) {
      const tooBig = rand() < 0.5;
      const size = 30 + Math.floor(rand() * 200_000);
      const bytes = tooBig ? jpeg(size) : notMedia(size);
      const limit = tooBig ? Math.max(1, bytes.length - 1 - Math.floor(rand() * bytes.length)) : bytes.length;
      const where = `seed ${seed + 1}, case ${i}: ${bytes.length} bytes, limit ${limit}`;
      await assert.rejects(
        store.receive(Readable.from(chunking(rand, bytes)), limit),
        (err: unknown) => err instanceof ApiError && err.code === (tooBig ? 'payload_too_large' : 'unsupported_media_type'),
        where,
      );
      assert.deepEqual(await readdir(store.tmpDir), [], where);
    }
  });

  it('an empty body fails before the temp file has finished opening: still no temp file, even a moment later', async () => {
    for (let i = 0; i < 200; i++) {
      await assert.rejects(
        store.receive(Readable.from([]), 100),
        (err: unknown) => err instanceof ApiError && err.code === 'unsupported_media_type',
      );
    }
    // A file whose open completed after the failure's unlink would appear only now.
    await setTimeout(100);
    assert.deepEqual(await readdir(store.tmpDir), []);
  });
});
