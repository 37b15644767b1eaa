import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../ingest/blob-store.ts';
import type { UploadSource } from '../google/photos-client.ts';

export function blobSource(blobs: BlobStore, blob: { sha256: string; size: number; mimeType: string }, fileName: string): UploadSource {
  return {
    size: blob.size,
    mimeType: blob.mimeType,
    fileName,
    open: (range) => blobs.open(blob.sha256, range),
  };
}

/** Re-hash the stored bytes before they leave: a blob damaged on disk must never reach anyone's library. */
export async function verifyBlob(blobs: BlobStore, sha256: string): Promise<boolean> {
  const hash = createHash('sha256');
  await pipeline(blobs.open(sha256), hash);
  return hash.digest('hex') === sha256;
}
