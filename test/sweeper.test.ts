import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { sweepOrphanBlobs } from '../src/ingest/sweeper.ts';
import { Client } from './helpers/client.ts';
import { listFiles, startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg, sha256 } from './helpers/media.ts';

let relay: TestRelay;
before(async () => {
  relay = await startRelay();
});
after(() => relay.close());

it('removes blob files no row names, and keeps every file a row names', async () => {
  const admin = new Client(relay.url);
  const phone = await admin.pairDevice(await admin.createAccount('Orla'));
  const kept = jpeg();
  assert.equal((await phone.upload(kept)).status, 201);

  // A registration whose transaction failed after its rename leaves a complete blob that no row names.
  const orphan = jpeg();
  const orphanPath = relay.services.blobs.pathOf(sha256(orphan));
  await mkdir(path.dirname(orphanPath), { recursive: true });
  await writeFile(orphanPath, orphan);

  assert.deepEqual(await sweepOrphanBlobs(relay.services), { removed: 1, readopted: 0 });
  assert.deepEqual(await listFiles(relay.services.blobs.blobsDir), [relay.services.blobs.pathOf(sha256(kept))]);
  assert.deepEqual(await sweepOrphanBlobs(relay.services), { removed: 0, readopted: 0 });
});
