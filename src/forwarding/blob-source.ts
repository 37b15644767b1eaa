import { createHash } from 'node:crypto';
import { pipeline as pipe } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GcPacedStream } from '../ingest/young-gc.ts';
import type { BlobStore } from '../ingest/blob-store.ts';
import type { UploadSource } from '../google/photos-client.ts';

export function blobSource(blobs: BlobStore, blob: { sha256: string; size: number; mimeType: string }, fileName: string): UploadSource {
  return {
    size: blob.size,
    mimeType: blob.mimeType,
    fileName,
    // pipe() hands a read error on to the stream the upload reads, which fails the request.
    open: (range) => pipe(blobs.open(blob.sha256, range), new GcPacedStream(), () => {}),
  };
}

/** Re-hash the stored bytes before they leave: a blob damaged on disk must never reach anyone's library. */
export async function verifyBlob(blobs: BlobStore, sha256: string): Promise<boolean> {
  const hash = createHash('sha256');
  await pipeline(blobs.open(sha256), new GcPacedStream(), hash);
  return hash.digest('hex') === sha256;
}
