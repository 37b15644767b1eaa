import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { jpeg, mp4 } from '../../test/helpers/media.ts';
import { prng } from '../../test/helpers/prng.ts';

export type Kind = 'jpeg' | 'mp4';

// The test helpers' smallest recognisable headers: jpeg(22) is its 20-byte JFIF head plus the FFD9 trailer,
// mp4(24) is exactly its `ftyp` box. Reusing them keeps the bench's files what the tests call photos and videos.
const JPEG = jpeg(22);
const HEADS: Record<Kind, { head: Buffer; tail: Buffer; mime: string; ext: string }> = {
  jpeg: { head: JPEG.subarray(0, 20), tail: JPEG.subarray(20), mime: 'image/jpeg', ext: 'jpg' },
  mp4: { head: mp4(24), tail: Buffer.alloc(0), mime: 'video/mp4', ext: 'mp4' },
};

export interface MediaFile {
  path: string;
  name: string;
  size: number;
  mimeType: string;
  sha256: string;
}

const CHUNK = 4 * 1024 * 1024;

/** A valid header, then random bytes, streamed to disk in 4 MiB chunks and fsynced: never the whole file in memory. */
export async function writeLargeFile(dir: string, kind: Kind, size: number, name?: string): Promise<MediaFile> {
  const { head, tail, mime, ext } = HEADS[kind];
  const fileName = name ?? `bench-${kind}-${size}.${ext}`;
  const file = path.join(dir, fileName);
  const hash = createHash('sha256');
  const out = createWriteStream(file, { flags: 'wx', flush: true, highWaterMark: CHUNK });
  const write = (bytes: Buffer) =>
    new Promise<void>((resolve, reject) => {
      hash.update(bytes);
      out.write(bytes, (err) => (err ? reject(err) : resolve()));
    });
  await write(head);
  let left = size - head.length - tail.length;
  const buffer = Buffer.allocUnsafe(CHUNK);
  while (left > 0) {
    const n = Math.min(left, CHUNK);
    randomFillSync(buffer, 0, n);
    // write() keeps a reference until its callback: copy, since the buffer is refilled next round.
    await write(Buffer.from(buffer.subarray(0, n)));
    left -= n;
  }
  if (tail.length) await write(tail);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return { path: file, name: fileName, size, mimeType: mime, sha256: hash.digest('hex') };
}


/** `count` JPEGs of seeded random sizes in [minBytes, maxBytes], each new content, written and fsynced. */
export async function writePhotoSet(
  dir: string,
  count: number,
  minBytes: number,
  maxBytes: number,
  seed: number,
  prefix = 'IMG_',
): Promise<MediaFile[]> {
  const random = prng(seed);
  const { head, tail, mime } = HEADS.jpeg;
  const files: MediaFile[] = [];
  for (let i = 0; i < count; i++) {
    const size = minBytes + Math.floor(random() * (maxBytes - minBytes + 1));
    const bytes = Buffer.allocUnsafe(size);
    head.copy(bytes, 0);
    randomFillSync(bytes, head.length, size - head.length - tail.length);
    tail.copy(bytes, size - tail.length);
    const name = `${prefix}${String(i).padStart(5, '0')}.jpg`;
    const file = path.join(dir, name);
    const handle = await open(file, 'wx');
    try {
      await handle.writeFile(bytes);
    } finally {
      await handle.close();
    }
    files.push({ path: file, name, size, mimeType: mime, sha256: createHash('sha256').update(bytes).digest('hex') });
  }
  // One sync for the whole set: the disk is quiet again before anything is timed.
  execFileSync('sync');
  return files;
}

export async function removeFiles(files: MediaFile[]): Promise<void> {
  await Promise.all(files.map((f) => rm(f.path, { force: true })));
}
