import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApiError } from '../http/errors.ts';

// Upload folder ids the apps use: an MD5 (Android), a number (nextcloudcmd), a UUID-like string (iOS). No leading
// dot, so "." and ".." (raw or percent-encoded) are not ids.
const UPLOAD_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
// Chunk names: "000001" (Android), "1" (iOS), "0000000000000000" (nextcloudcmd). Ordered by their number.
const CHUNK_NAME = /^\d{1,20}$/;
const META = '.meta.json';

export interface Chunk {
  name: string;
  size: number;
}

export interface UploadMeta {
  /** OC-Total-Length declared at MKCOL, if any: chunks beyond it are refused. */
  totalLength: number | null;
}

export function checkUploadId(id: string): void {
  if (!UPLOAD_ID.test(id)) throw new ApiError('validation_failed', 'Not an upload folder name');
}

export function checkChunkName(name: string): void {
  if (!CHUNK_NAME.test(name)) throw new ApiError('validation_failed', 'Chunk names are numbers');
}

/**
 * The chunks of Nextcloud chunked uploads (v2), on disk under <spool>/nextcloud-uploads/<device>/<upload id>/: the
 * files are the state (which chunks arrived, and their sizes, are what the apps resume from), plus the total length
 * declared at MKCOL. Nothing here is in the ledger: an upload folder is bytes on their way, and only the assembling
 * MOVE makes them a file, through the intake every door shares. Each chunk is written like a temp file (exclusive
 * create, fsync) and renamed into place whole, so a cut chunk is never listed. Folders not touched for a day go.
 */
export class ChunkStore {
  readonly root: string;

  constructor(spoolDir: string) {
    this.root = path.join(spoolDir, 'nextcloud-uploads');
  }

  dirOf(deviceId: string, id: string): string {
    checkUploadId(id);
    return path.join(this.root, deviceId, id);
  }

  async exists(deviceId: string, id: string): Promise<boolean> {
    return stat(this.dirOf(deviceId, id)).then(
      (s) => s.isDirectory(),
      () => false,
    );
  }

  /** Create the folder (again: a retried MKCOL keeps the chunks already there, which is how apps resume). */
  async create(deviceId: string, id: string, meta: UploadMeta): Promise<void> {
    const dir = this.dirOf(deviceId, id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(path.join(dir, META), JSON.stringify(meta), { mode: 0o600, flush: true });
  }

  async meta(deviceId: string, id: string): Promise<UploadMeta> {
    try {
      const fh = await open(path.join(this.dirOf(deviceId, id), META), 'r');
      try {
        return JSON.parse(await fh.readFile('utf8')) as UploadMeta;
      } finally {
        await fh.close();
      }
    } catch {
      return { totalLength: null };
    }
  }

  /** The complete chunks, in numeric order. */
  async list(deviceId: string, id: string): Promise<Chunk[]> {
    const dir = this.dirOf(deviceId, id);
    const names = (await readdir(dir)).filter((n) => CHUNK_NAME.test(n));
    const chunks = await Promise.all(names.map(async (name) => ({ name, size: (await stat(path.join(dir, name))).size })));
    return chunks.sort((a, b) => compareNumeric(a.name, b.name));
  }

  /**
   * Write one chunk from `source`, at most `maxBytes` of it (more is refused with 413 and nothing kept). Replaces a
   * chunk of the same name (a retry).
   */
  async put(deviceId: string, id: string, name: string, source: Readable, maxBytes: number, signal: AbortSignal): Promise<number> {
    checkChunkName(name);
    const dir = this.dirOf(deviceId, id);
    const temp = path.join(dir, `.${name}.${randomUUID()}.part`);
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback) {
        size += chunk.length;
        if (size > maxBytes) return callback(new ApiError('payload_too_large', `The upload would exceed its limit of ${maxBytes} bytes`));
        callback(null, chunk);
      },
    });
    const sink = createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true });
    try {
      await pipeline(source, limit, sink, { signal });
      await rename(temp, path.join(dir, name));
      return size;
    } catch (err) {
      if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
      await unlink(temp).catch(() => {});
      throw err;
    }
  }

  /** The chunks one after the other, streamed from disk (never held in memory). */
  assemble(deviceId: string, id: string, chunks: Chunk[]): Readable {
    const dir = this.dirOf(deviceId, id);
    async function* read() {
      for (const chunk of chunks) yield* createReadStream(path.join(dir, chunk.name));
    }
    return Readable.from(read(), { objectMode: false });
  }

  async remove(deviceId: string, id: string): Promise<void> {
    await rm(this.dirOf(deviceId, id), { recursive: true, force: true });
  }

  /** Remove upload folders untouched for `olderThanMs` (a chunk arriving renames into the folder: that touches it). */
  async sweep(olderThanMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    const devices = await readdir(this.root).catch(() => [] as string[]);
    for (const deviceDir of devices) {
      const base = path.join(this.root, deviceDir);
      for (const id of await readdir(base).catch(() => [] as string[])) {
        const dir = path.join(base, id);
        const info = await stat(dir).catch(() => null);
        if (info && now - info.mtimeMs > olderThanMs) {
          await rm(dir, { recursive: true, force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

function compareNumeric(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export const UPLOAD_FOLDER_TTL_MS = 24 * 3600_000;
