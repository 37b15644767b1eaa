import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, it } from 'node:test';
import { BlobStore, fsyncDir } from '../src/ingest/blob-store.ts';
import { jpeg } from './helpers/media.ts';

/**
 * A blob's name is durable only if every folder on its path is: `blobs/ab/cd/<sha256>` needs `cd` synced for the file's
 * entry, and when `ab` or `cd` were created for it, their parents synced for theirs. Watched through the store's folder
 * sync (the real fsync, recorded), since a crash of the process alone cannot show a missing fsync.
 */

let root: string;
let store: BlobStore;
const synced: string[] = [];

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'photo-relay-folders-'));
  store = new BlobStore(path.join(root, 'spool'), async (dir) => {
    await fsyncDir(dir);
    synced.push(path.relative(store.blobsDir, dir) || '.');
  });
  await store.init();
});
after(() => rm(root, { recursive: true, force: true }));

it('a blob in new folders: the parent of each new folder and the blob’s own folder are synced before commit returns', async () => {
  const temp = await store.receive(Readable.from([jpeg(70_000)]), 1e6);
  const [ab, cd] = [temp.sha256.slice(0, 2), temp.sha256.slice(2, 4)];
  // Prepared while the file was written: the folders exist before the rename, their entries already synced.
  assert.ok((await stat(path.join(store.blobsDir, ab, cd))).isDirectory());
  assert.deepEqual(synced.sort(), ['.', ab].sort());
  synced.length = 0;
  await store.commit(temp);
  assert.deepEqual(synced, [path.join(ab, cd)]);
});

it('a blob in existing folders: only its own folder is synced', async () => {
  synced.length = 0;
  const temp = await store.receive(Readable.from([jpeg(70_000)]), 1e6);
  await store.commit(temp);
  // Same content again (a repeat upload renamed over the first): the folders exist, nothing but the rename to sync.
  const again = await store.receive(Readable.from([jpeg(70_000)]), 1e6);
  synced.length = 0;
  await store.commit(again);
  assert.deepEqual(synced, [path.join(again.sha256.slice(0, 2), again.sha256.slice(2, 4))]);
});
