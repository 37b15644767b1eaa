import { createHash } from 'node:crypto';
import { pipeline as pipe, Transform } from 'node:stream';
import { GcPacedStream } from '../ingest/young-gc.ts';
import type { BlobStore } from '../ingest/blob-store.ts';
import type { UploadSource } from '../google/photos-client.ts';

export interface HashedSource extends UploadSource {
  /** Whether the last whole read (from byte 0 to the end) gave exactly the blob's size and SHA-256. */
  intact(): boolean;
  /**
   * Start reading the whole blob now, for the next read(): a small raw upload's body is read while the job waits
   * for its slot, so the slot is held for the request to Google alone.
   */
  prefetch(): void;
}

/**
 * A blob as an upload's body. Every whole read (streamed, or in one piece for a small blob) is hashed on its way out,
 * so a raw upload needs no separate reading to verify the bytes (a blob damaged on disk must never reach anyone's
 * library): the caller checks intact() before it keeps Google's token.
 */
export function blobSource(blobs: BlobStore, blob: { sha256: string; size: number; mimeType: string }, fileName: string): HashedSource {
  let intact = false;
  let prefetched: Promise<Buffer> | undefined;
  const readWhole = async () => {
    intact = false;
    const bytes = await blobs.read(blob.sha256);
    intact = bytes.length === blob.size && createHash('sha256').update(bytes).digest('hex') === blob.sha256;
    return bytes;
  };
  return {
    size: blob.size,
    mimeType: blob.mimeType,
    fileName,
    open: (range) => {
      // pipe() hands a read error on to the stream the upload reads, which fails the request.
      const file = blobs.open(blob.sha256, range);
      if (range && (range.start > 0 || range.end !== undefined)) return pipe(file, new GcPacedStream(), () => {});
      intact = false;
      const hash = createHash('sha256');
      let bytes = 0;
      const hashing = new Transform({
        // Judged as the last of `size` bytes passes, not at the stream's end: the HTTP client stops reading once it
        // has sent content-length bytes and may have its answer before the end is ever seen.
        transform(chunk: Buffer, _encoding, done) {
          const before = bytes;
          bytes += chunk.length;
          if (before < blob.size) hash.update(chunk);
          intact = bytes === blob.size && before < blob.size ? hash.digest('hex') === blob.sha256 : false;
          done(null, chunk);
        },
      });
      return pipe(file, hashing, new GcPacedStream(), () => {});
    },
    read: () => {
      const ready = prefetched ?? readWhole();
      prefetched = undefined;
      return ready;
    },
    prefetch: () => {
      prefetched ??= readWhole();
      prefetched.catch(() => {}); // observed by read(), or never needed
    },
    intact: () => intact,
  };
}
