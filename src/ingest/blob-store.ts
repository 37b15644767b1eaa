import { createHash, randomUUID } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readFile, readdir, rename, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApiError } from '../http/errors.ts';
import { SNIFF_BYTES, sniffMedia } from '../media/sniff.ts';
import { IngestMeter, type MeterResult } from './ingest-meter.ts';
import { GcPacedStream } from './young-gc.ts';

const TEMP_SUFFIX = '.part';
/** The spool's identity marker: written at first start, also recorded in the ledger (relay_settings.spool_id). */
export const SPOOL_MARKER = '.photo-relay-spool-id';

export type BlobPresence = 'present' | 'missing';

export interface TempBlob extends MeterResult {
  tempPath: string;
  /** Its blob's folder exists and is durable already (receive prepares it while the file's fsync runs). */
  folderReady?: boolean;
}


/**
 * Content-addressed files under `<spool>/blobs/ab/cd/<sha256>`. Bytes land in `<spool>/tmp` first (same file
 * system, so the final rename is atomic) and become visible only once complete, fsynced and renamed.
 */
export class BlobStore {
  readonly tmpDir: string;
  readonly blobsDir: string;
  readonly markerPath: string;
  /** The identity this process verified at start (openSpool); null until then. */
  identity: string | null = null;
  /** Temp files of uploads in progress here: received or being received, not yet committed or discarded. */
  private readonly live = new Set<string>();

  /** `syncDir` is fsyncDir; a test may watch which folders are synced. */
  constructor(
    readonly root: string,
    private readonly syncDir: (dir: string) => Promise<void> = fsyncDir,
  ) {
    this.tmpDir = path.join(root, 'tmp');
    this.blobsDir = path.join(root, 'blobs');
    this.markerPath = path.join(root, SPOOL_MARKER);
  }

  /** Create the spool's folders. Only after its identity was settled (src/ingest/spool-identity.ts). */
  async init(): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
    await mkdir(this.blobsDir, { recursive: true, mode: 0o700 });
  }

  /** The identity written in the spool, or null when there is none (ENOENT). Any other error is not an answer: it throws. */
  async readMarker(): Promise<string | null> {
    try {
      return (await readFile(this.markerPath, 'utf8')).trim() || null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  /** Write the identity marker durably; false when one exists already (another process of this relay was first). */
  async writeMarker(id: string): Promise<boolean> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    try {
      await writeFile(this.markerPath, `${id}\n`, { flag: 'wx', mode: 0o600, flush: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    await fsyncDir(this.root);
    return true;
  }

  /**
   * Whether the spool this process verified at start is still the one mounted here. A missing file means "missing"
   * only while this holds: a volume that went away, or was swapped, makes every file look missing at once.
   */
  async identityHolds(): Promise<boolean> {
    if (!this.identity) return false;
    return (await this.readMarker().catch(() => null)) === this.identity;
  }

  /** Whether the spool root holds a blobs folder: a spool that was in use, as opposed to an empty or absent directory. */
  async looksUsed(): Promise<boolean> {
    return stat(this.blobsDir).then(
      (info) => info.isDirectory(),
      () => false,
    );
  }

  /** `missing` only for ENOENT; EIO and every other error throws (transient: the caller retries, never concludes). */
  async presence(sha256: string): Promise<BlobPresence> {
    try {
      await stat(this.pathOf(sha256));
      return 'present';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw err;
    }
  }

  pathOf(sha256: string): string {
    return path.join(this.blobsDir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  /**
   * Stream `source` into a fresh temp file through the meter (hash, size, media sniffing, size limit).
   * On any failure the temp file is gone before the error surfaces. Once the last byte went through the meter (the
   * hash is known) the blob's folder is made ready while the file's last writes and fsync run: commit() then has only
   * the rename and one folder fsync left to do under the content lock.
   */
  async receive(source: Readable, maxBytes: number, signal?: AbortSignal): Promise<TempBlob> {
    const tempPath = path.join(this.tmpDir, `${randomUUID()}${TEMP_SUFFIX}`);
    this.live.add(tempPath);
    const meter = new IngestMeter(maxBytes);
    // `flush: true` fsyncs the file before the stream reports it closed. Node's default queue (16 KiB) is kept: with
    // 256 KiB, chunks arriving during a write went out together and bench (c) ran ~8% faster, but the queued chunks
    // outlived young GCs, and the API process's peak went over 150 MB (153 MB) in one of three full runs.
    const sink = createWriteStream(tempPath, { flags: 'wx', mode: 0o600, flush: true });
    // Settles with the error rather than rejecting: the pipeline may fail first, and then nobody awaits it.
    let folder: Promise<unknown> = Promise.resolve();
    meter.once('end', () => {
      folder = this.prepareFolder(meter.sha256!).then(
        () => null,
        (err: unknown) => err ?? new Error('preparing the blob folder failed'),
      );
    });
    try {
      // Aborting `signal` stops the upload.
      await pipeline(source, meter, sink, { signal });
      const folderErr = await folder;
      if (folderErr) throw folderErr;
      return { tempPath, ...meter.result(), folderReady: true };
    } catch (err) {
      // pipeline() can reject while the sink is still creating the file (an empty part fails at once): unlinking
      // then would come first and leave the file behind. 'close' comes once the file is open and closed again.
      if (!sink.closed) await new Promise<void>((resolve) => sink.once('close', () => resolve()));
      await this.discard(tempPath);
      throw err;
    }
  }

  /**
   * Take a whole file the spool already holds (a completed resumable upload) as a received temp file, without
   * copying its bytes: judged like any upload (size limit, media sniffed from its head), then hard-linked into tmp
   * (same file system), so commit() renames the link and the original stays until its owner lets it go. `sha256` is
   * the caller's, computed over exactly these bytes.
   */
  async adopt(file: string, maxBytes: number, sha256: string): Promise<TempBlob> {
    const handle = await open(file, 'r');
    let size: number;
    let head: Buffer;
    try {
      size = (await handle.stat()).size;
      if (size > maxBytes) throw new ApiError('payload_too_large', `File exceeds the limit of ${maxBytes} bytes`);
      const buffer = Buffer.alloc(Math.min(size, SNIFF_BYTES));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
    const media = head.length > 0 ? await sniffMedia(head) : null;
    if (!media) throw new ApiError('unsupported_media_type', 'The content is not a photo or video format Google Photos accepts');
    const tempPath = path.join(this.tmpDir, `${randomUUID()}${TEMP_SUFFIX}`);
    this.live.add(tempPath);
    try {
      await link(file, tempPath);
    } catch (err) {
      this.live.delete(tempPath);
      throw err;
    }
    return { tempPath, sha256, size, media };
  }

  async discard(tempPath: string): Promise<void> {
    await unlink(tempPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    this.live.delete(tempPath);
  }

  /** Make a received temp file the blob named by its hash: rename, then fsync the directory so the name survives a crash. */
  async commit(temp: TempBlob): Promise<void> {
    await (await this.place(temp)).synced();
  }

  /**
   * commit() in two steps, for a caller with other work to overlap with the folder's fsync: resolves once renamed;
   * `synced()` resolves when the name is durable, or throws the fsync's error. Nothing may rely on the name before
   * (a ledger row commits only after it). The fsync runs from the start, whether or not anyone asks.
   */
  async place(temp: TempBlob): Promise<{ synced(): Promise<void> }> {
    const finalPath = this.pathOf(temp.sha256);
    if (!temp.folderReady) await this.prepareFolder(temp.sha256);
    await rename(temp.tempPath, finalPath);
    this.live.delete(temp.tempPath);
    const outcome = this.syncDir(path.dirname(finalPath)).then(
      () => null,
      (err: unknown) => err ?? new Error('fsync of the blob folder failed'),
    );
    return {
      async synced() {
        const err = await outcome;
        if (err) throw err;
      },
    };
  }

  async has(sha256: string): Promise<boolean> {
    return (await this.presence(sha256)) === 'present';
  }

  /** Re-hash the stored bytes: a blob damaged on disk must never reach anyone's library, nor be adopted again. */
  async verify(sha256: string): Promise<boolean> {
    const hash = createHash('sha256');
    await pipeline(this.open(sha256), new GcPacedStream(), hash);
    return hash.digest('hex') === sha256;
  }

  open(sha256: string, range?: { start: number; end?: number }): Readable {
    return createReadStream(this.pathOf(sha256), range);
  }

  /** A small blob whole, in one read. */
  async read(sha256: string): Promise<Buffer> {
    return readFile(this.pathOf(sha256));
  }

  async remove(sha256: string): Promise<void> {
    await unlink(this.pathOf(sha256)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /**
   * Remove temp files no upload has touched for `olderThanMs` (0: all of them, for a start-up with no upload running).
   * This process's own uploads in progress are never swept, whatever the threshold: with a small STALE_TEMP_MINUTES the
   * periodic sweep used to delete a live upload's file, whose commit then failed with ENOENT.
   */
  async sweepTemp(olderThanMs: number, now = Date.now()): Promise<number> {
    let removed = 0;
    for (const name of await readdir(this.tmpDir).catch(() => [] as string[])) {
      const file = path.join(this.tmpDir, name);
      if (this.live.has(file)) continue;
      const info = await stat(file).catch(() => null);
      if (!info || now - info.mtimeMs < olderThanMs) continue;
      await unlink(file).then(
        () => removed++,
        () => {},
      );
    }
    return removed;
  }

  async freeBytes(): Promise<number> {
    const fsStats = await statfs(this.root);
    return fsStats.bavail * fsStats.bsize;
  }

  /** Readiness: the spool accepts a new file. */
  async probeWritable(): Promise<void> {
    const probe = path.join(this.tmpDir, `.probe-${randomUUID()}`);
    const handle = await open(probe, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
    await handle.close();
    await unlink(probe);
  }

  /**
   * Create the folder a blob goes in (`blobs/ab/cd`), durably. Folders are never removed, so this may run before the
   * content lock is taken, and for content that is then refused.
   */
  private async prepareFolder(sha256: string): Promise<void> {
    const dir = path.dirname(this.pathOf(sha256));
    // mkdir names the first (outermost) folder it created; every folder from there down to `dir` is new.
    const created = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (!created) return;
    // A new folder's own entry must be durable too: fsync the parent of each folder created (`blobs` for a new `ab`,
    // `ab` for a new `cd`), at once: the file system can commit them together.
    const parents: string[] = [];
    for (let d = dir; d.startsWith(this.blobsDir) && d !== this.blobsDir; d = path.dirname(d)) {
      parents.push(path.dirname(d));
      if (d === created) break;
    }
    await Promise.all(parents.map((p) => this.syncDir(p)));
  }
}

/** fsync a directory, so the names it gained or lost survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
