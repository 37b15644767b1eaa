import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, it } from 'node:test';
import { createDb, type Db } from '../src/db/client.ts';
import { BlobStore } from '../src/ingest/blob-store.ts';
import { ChildRelay, freePort, killAll } from './helpers/child.ts';
import { Client } from './helpers/client.ts';
import { isolate, listFiles, type Isolation } from './helpers/harness.ts';
import { jpeg, mp4, sha256 } from './helpers/media.ts';
import { multipart, RawConnection, requestHead } from './helpers/raw-http.ts';
import { prng } from './helpers/prng.ts';

/**
 * SIGKILL the relay at a random moment while uploads of several sizes are in flight, restart it, and check what it
 * promises: no blob file whose name is not its content's hash, no blob row without its file, no asset without its
 * blob, no temp file after the start-up sweep, every acknowledged upload still there, and every interrupted content
 * uploadable again.
 */

const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 20);
// Rounds run in independent lanes (own database, spool, port), so one lane's start-up overlaps another's uploads.
const LANES = Number(process.env.CRASH_LANES ?? 2);
const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
const KILL_WINDOW_MS = 700;
// A start costs a few CPU-seconds (the module graph, migrations): on a crowded host that can take minutes.
const START_TIMEOUT_MS = 300_000;


after(killAll);

interface Outcome {
  bytes: Buffer;
  status?: number;
  assetId?: string;
}

/** One upload; fast ones through fetch, slow ones trickled over a raw socket so the kill finds them mid-body. */
async function upload(url: string, token: string, bytes: Buffer, slow: boolean): Promise<Outcome> {
  const outcome: Outcome = { bytes };
  try {
    if (!slow) {
      const res = await new Client(url, token).upload(bytes, { sha256: sha256(bytes) });
      return { bytes, status: res.status, assetId: res.body?.id };
    }
    const { body, contentType } = multipart([
      { name: 'deviceAssetId', value: `slow-${sha256(bytes).slice(0, 12)}` },
      { name: 'file', value: bytes, filename: 'VID.mp4', contentType: 'video/mp4' },
    ]);
    const conn = await RawConnection.open(url);
    await conn.write(requestHead('POST', '/api/v1/assets', { Authorization: `Bearer ${token}`, 'Content-Type': contentType, 'Content-Length': body.length }));
    await conn.trickle(body, 64 * 1024, 20);
    const res = await conn.response;
    conn.socket.destroy();
    return { bytes, status: res?.status, assetId: res?.body?.id };
  } catch {
    return outcome; // cut by the kill
  }
}

async function checkInvariants(db: Db, store: BlobStore, acknowledged: string[], where: string): Promise<void> {
  assert.deepEqual(await readdir(store.tmpDir), [], `${where}: temp files survived the start-up sweep`);

  for (const file of await listFiles(store.blobsDir)) {
    const name = path.basename(file);
    assert.equal(file, store.pathOf(name), `${where}: blob file outside its content address: ${file}`);
    assert.equal(sha256(await readFile(file)), name, `${where}: blob file ${name} does not hold the content its name says`);
  }

  for (const blob of await db.blob.findMany({ where: { stored: true } })) {
    const info = await stat(store.pathOf(blob.sha256)).catch(() => null);
    assert.ok(info, `${where}: blob row ${blob.sha256} has no file`);
    assert.equal(info.size, Number(blob.size), `${where}: blob ${blob.sha256} has the wrong size on disk`);
  }

  const orphans = await db.$queryRaw<{ id: string }[]>`
    SELECT a.id FROM assets a LEFT JOIN blobs b ON b.sha256 = a.blob_sha256 WHERE b.sha256 IS NULL OR NOT b.stored`;
  assert.deepEqual(orphans, [], `${where}: assets without their blob`);
  const undelivered = await db.$queryRaw<{ id: string }[]>`
    SELECT a.id FROM assets a LEFT JOIN deliveries d ON d.blob_sha256 = a.blob_sha256 AND d.account_id = a.account_id
    WHERE d.id IS NULL`;
  assert.deepEqual(undelivered, [], `${where}: assets without a delivery`);

  const kept = await db.asset.count({ where: { id: { in: acknowledged } } });
  assert.equal(kept, acknowledged.length, `${where}: an acknowledged upload was lost`);
}

/** What the kills hit, over all lanes: proof that the test exercised what it claims to. */
const seen = { acknowledged: 0, cut: 0, tempFilesAtKill: 0, blobsWithoutRowAtKill: 0 };

async function lane(id: number, rounds: number, rand: () => number): Promise<void> {
  const iso: Isolation = await isolate();
  const port = await freePort();
  const env = { ...iso.env, STALE_TEMP_MINUTES: '0', LOG_LEVEL: process.env.CRASH_LOG_LEVEL ?? 'silent' };
  const db = createDb(iso.databaseUrl, 2);
  const store = new BlobStore(iso.spoolDir);
  let relay = await ChildRelay.start(env, port, START_TIMEOUT_MS);
  try {
    const admin = new Client(relay.url);
    const phone = await admin.pairDevice(await admin.createAccount(`Crash ${id}`));
    const acknowledged: string[] = [];

    for (let round = 0; round < rounds; round++) {
      const where = `seed ${SEED}, lane ${id}, round ${round}`;
      const sizes = [20_000, 300_000, 2_000_000, 5_000_000].filter(() => rand() < 0.8);
      const contents = [...sizes.map((s) => jpeg(s)), mp4(1_500_000 + Math.floor(rand() * 1_000_000))];
      const inFlight = contents.map((bytes, i) => upload(relay.url, phone.token, bytes, i === contents.length - 1));
      await sleep(rand() * KILL_WINDOW_MS);
      const killed = await relay.kill('SIGKILL');
      assert.equal(killed.signal, 'SIGKILL', `${where}: the relay was not alive when killed:\n${relay.output}`);
      const outcomes = await Promise.all(inFlight);
      for (const o of outcomes) {
        if (o.status === 201 || o.status === 200) {
          acknowledged.push(o.assetId!);
          seen.acknowledged++;
        } else if (o.status === undefined) seen.cut++;
        else assert.ok(o.status < 500, `${where}: upload answered ${o.status}`);
      }
      seen.tempFilesAtKill += (await readdir(store.tmpDir).catch(() => [])).length;
      const named = new Set((await db.blob.findMany({ select: { sha256: true } })).map((b) => b.sha256));
      seen.blobsWithoutRowAtKill += (await listFiles(store.blobsDir)).filter((f) => !named.has(path.basename(f))).length;

      relay = await ChildRelay.start(env, port, START_TIMEOUT_MS);
      await checkInvariants(db, store, acknowledged, where);
      // Everything of the round, interrupted or not, can be sent again (the phone retries).
      for (const o of outcomes) {
        const again = await new Client(relay.url, phone.token).upload(o.bytes, { sha256: sha256(o.bytes) });
        assert.ok(again.status === 201 || again.status === 200, `${where}: re-upload answered ${again.status} ${JSON.stringify(again.body)}`);
        assert.equal(again.body.sha256, sha256(o.bytes));
        if (o.assetId) assert.equal(again.body.id, o.assetId, `${where}: an acknowledged upload came back as a new asset`);
      }
      const blobs = await listFiles(store.blobsDir);
      for (const o of outcomes) assert.ok(blobs.includes(store.pathOf(sha256(o.bytes))), `${where}: re-uploaded content has no blob file`);
    }
  } finally {
    await relay.kill('SIGKILL');
    await db.$disconnect();
    await iso.drop();
  }
}

it(`${ROUNDS} rounds of SIGKILL during uploads: the spool and the ledger stay consistent (seed ${SEED})`, async (t) => {
  const perLane = Array.from({ length: LANES }, (_, i) => Math.floor(ROUNDS / LANES) + (i < ROUNDS % LANES ? 1 : 0));
  // Every lane runs to its end (and cleans up) before a failure is reported.
  const results = await Promise.allSettled(perLane.map((rounds, i) => lane(i, rounds, prng(SEED + i))));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
  t.diagnostic(`kills hit: ${JSON.stringify(seen)}`);
  // The kills must have found uploads both finished and in flight, and left temp files for the sweep to remove.
  assert.ok(seen.acknowledged > 0 && seen.cut > 0 && seen.tempFilesAtKill > 0, `the kills never hit mid-upload: ${JSON.stringify(seen)}`);
});
