import { constants } from 'node:fs';
import { mkdir, open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Db } from '../db/client.ts';
import { newId } from '../db/ids.ts';
import type { AssetMeta } from '../ingest/register.ts';
import { fsyncDir } from '../ingest/blob-store.ts';
import type { Services } from '../services.ts';
import type { UploadLock, UploadLocks } from './lock.ts';
import { PartHandles } from './part-handles.ts';

export interface UploadRow {
  id: string;
  deviceId: string;
  protocol: string;
  length: number | null;
  offset: number;
  meta: AssetMeta;
  sha256: string | null;
  assetId: string | null;
  duplicate: boolean;
  completedAt: Date | null;
  expiresAt: Date;
}

type Raw = {
  id: string;
  deviceId: string;
  protocol: string;
  // Prisma reads bigint as bigint, plain pg as a string.
  length: bigint | string | null;
  offset: bigint | string;
  deviceAssetId: string;
  fileName: string;
  fileCreatedAt: Date | null;
  sha256: string | null;
  assetId: string | null;
  duplicate: boolean;
  completedAt: Date | null;
  expiresAt: Date;
};

function toRow(r: Raw): UploadRow {
  return {
    id: r.id,
    deviceId: r.deviceId,
    protocol: r.protocol,
    length: r.length === null ? null : Number(r.length),
    offset: Number(r.offset),
    meta: { deviceAssetId: r.deviceAssetId, fileName: r.fileName, fileCreatedAt: r.fileCreatedAt },
    sha256: r.sha256,
    assetId: r.assetId,
    duplicate: r.duplicate,
    completedAt: r.completedAt,
    expiresAt: r.expiresAt,
  };
}

/** An upload's part file, open for one append. */
export interface PartFile {
  handle: FileHandle;
  /** The bytes the file holds (after cutting it back to the durable offset). */
  size: number;
  /** The append left the upload open: the file stays open for the next one. */
  keep(): void;
  close(): Promise<void>;
}

/** An upload read under its lock (UploadStore.lockAndFind). */
export interface Locked {
  lock: UploadLock;
  /** Null when there is no such upload for the device (or it expired). */
  row: UploadRow | null;
  /** The upload's device was revoked: its token may still be in a cache, but the upload takes no more bytes. */
  deviceRevoked: boolean;
}

// The row as toRow reads it, and whether its device still holds a valid token.
const LOCKED_ROW_SQL = `SELECT u.id, u.device_id AS "deviceId", u.protocol, u.length, u."offset",
  u.device_asset_id AS "deviceAssetId", u.file_name AS "fileName", u.file_created_at AS "fileCreatedAt", u.sha256,
  u.asset_id AS "assetId", u.duplicate, u.completed_at AS "completedAt", u.expires_at AS "expiresAt",
  d.revoked_at IS NOT NULL AS "deviceRevoked"
FROM resumable_uploads u JOIN devices d ON d.id = u.device_id`;

const int = (n: number) => {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`not a byte count: ${n}`);
  return String(n);
};

/**
 * Resumable uploads' state: a row each in Postgres (who, how long, metadata, the durable offset) and the bytes in
 * `<spool>/uploads/<id>.part`. The row is written before the file exists and deleted before the file goes, so a
 * file without a row is debris the sweep may remove, and a row without a file is an upload with nothing durable yet.
 */
export class UploadStore {
  readonly dir: string;
  /** Part files kept open between an upload's appends. */
  readonly handles = new PartHandles();

  constructor(
    private readonly db: Db,
    spoolDir: string,
    private readonly clock: () => Date,
    /** How long an upload nobody appends to is kept (renewed by every append), and a completed one remembered. */
    readonly ttlMs: number,
  ) {
    this.dir = path.join(spoolDir, 'uploads');
  }

  /** When an upload touched now expires. */
  expiry(): Date {
    return new Date(this.clock().getTime() + this.ttlMs);
  }

  partPath(id: string): string {
    return path.join(this.dir, `${id}.part`);
  }

  async create(input: {
    deviceId: string;
    protocol: string;
    length: number | null;
    meta: AssetMeta;
    sha256: string | undefined;
  }): Promise<UploadRow> {
    const id = newId();
    const now = this.clock();
    const expiresAt = this.expiry();
    const raw = await this.db.resumableUpload.create({
      data: {
        id,
        deviceId: input.deviceId,
        protocol: input.protocol,
        length: input.length === null ? null : BigInt(input.length),
        deviceAssetId: input.meta.deviceAssetId,
        fileName: input.meta.fileName,
        fileCreatedAt: input.meta.fileCreatedAt,
        sha256: input.sha256 ?? null,
        expiresAt,
        createdAt: now,
      },
    });
    return toRow(raw);
  }

  /** The device's unfinished uploads; expired ones (gone for the device, swept later) do not count. */
  async openCount(deviceId: string): Promise<number> {
    return this.db.resumableUpload.count({ where: { deviceId, completedAt: null, expiresAt: { gt: this.clock() } } });
  }

  /** The device's upload, unless it expired; another device's upload does not exist for this one. */
  async find(id: string, deviceId: string): Promise<UploadRow | null> {
    const raw = await this.db.resumableUpload.findUnique({ where: { id } });
    if (!raw || raw.deviceId !== deviceId || raw.expiresAt.getTime() <= this.clock().getTime()) return null;
    return toRow(raw);
  }

  /**
   * Take the upload's lock and read its row under it, in one round trip on the lock's connection (an append's
   * first two). Null when another request holds the lock. The row is the device's only: another device's upload,
   * like an expired one, is not found.
   */
  async lockAndFind(locks: UploadLocks, id: string, deviceId: string): Promise<Locked | null> {
    const locked = await locks.tryAcquireThen<Raw & { deviceRevoked: boolean }>(
      id,
      `${LOCKED_ROW_SQL} WHERE u.id = ${pg.escapeLiteral(id)}::uuid`,
    );
    if (!locked) return null;
    const raw = locked.rows[0];
    if (!raw || raw.deviceId !== deviceId || raw.expiresAt.getTime() <= this.clock().getTime()) {
      return { lock: locked.lock, row: null, deviceRevoked: false };
    }
    return { lock: locked.lock, row: toRow(raw), deviceRevoked: raw.deviceRevoked };
  }

  /**
   * saveOffset, committed as the upload's lock is released, in one round trip on the lock's connection (an append's
   * last two): the next holder reads this offset.
   */
  async saveOffsetAndRelease(lock: UploadLock, id: string, offset: number, length?: number | null, sha256?: string): Promise<void> {
    const set = [`"offset" = ${int(offset)}`, `expires_at = ${pg.escapeLiteral(this.expiry().toISOString())}::timestamptz`];
    if (length !== undefined) set.push(`length = ${length === null ? 'NULL' : int(length)}`);
    if (sha256 !== undefined) set.push(`sha256 = ${pg.escapeLiteral(sha256)}`);
    const changed = await lock.releaseAfter(`UPDATE resumable_uploads SET ${set.join(', ')} WHERE id = ${pg.escapeLiteral(id)}::uuid`);
    // Under the lock nothing deletes the row (termination and the sweep take the lock first).
    if (changed !== 1) throw new Error(`resumable upload ${id} vanished while locked`);
  }

  /** Record bytes as durable (already fsynced), and give the upload another lease of life. */
  async saveOffset(id: string, offset: number, length?: number | null, sha256?: string): Promise<void> {
    await this.db.resumableUpload.update({
      where: { id },
      data: {
        offset: BigInt(offset),
        expiresAt: this.expiry(),
        ...(length !== undefined ? { length: length === null ? null : BigInt(length) } : {}),
        ...(sha256 !== undefined ? { sha256 } : {}),
      },
    });
  }

  async markCompleted(id: string, assetId: string, duplicate: boolean): Promise<void> {
    await this.db.resumableUpload.update({
      where: { id },
      data: { assetId, duplicate, completedAt: this.clock(), expiresAt: this.expiry() },
    });
  }

  /**
   * Open the upload's file for an append, cut back to the durable offset: bytes past it were never acknowledged
   * (a crash between their write and their fsync, an append that failed). `size` is the offset the file really
   * holds: less than the row's only when the disk lost acknowledged bytes, which the caller must then take as the
   * truth. The caller ends with keep() (the upload goes on: the file stays open for its next append) or close().
   */
  async openForAppend(id: string, offset: number): Promise<PartFile> {
    let opened = this.handles.take(id);
    let info = opened ? await opened.stat().catch(() => null) : null;
    // A kept handle whose file was unlinked meanwhile (by hand: the relay removes none while the upload lives) would
    // write where nothing reads: the path is opened again, and finds what is really there.
    if (opened && !(info && info.nlink > 0)) {
      await opened.close().catch(() => {});
      opened = undefined;
      info = null;
    }
    if (!opened) {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      opened = await open(this.partPath(id), constants.O_RDWR | constants.O_CREAT, 0o600);
    }
    const handle = opened;
    let size: number;
    try {
      size = (info ?? (await handle.stat())).size;
      if (size > offset) {
        await handle.truncate(offset);
        await handle.sync();
        size = offset;
      } else if (size === 0 && offset === 0) await fsyncDir(this.dir);
    } catch (err) {
      await handle.close();
      throw err;
    }
    let done = false;
    return {
      handle,
      size,
      keep: () => {
        if (done) return;
        done = true;
        this.handles.keep(id, handle);
      },
      close: async () => {
        if (done) return;
        done = true;
        await handle.close();
      },
    };
  }

  /** Forget the upload: its row, then its bytes. */
  async remove(id: string): Promise<void> {
    await this.db.resumableUpload.deleteMany({ where: { id } });
    await this.unlinkPart(id);
  }

  async unlinkPart(id: string): Promise<void> {
    await this.handles.close(id);
    await unlink(this.partPath(id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Ids of expired uploads, oldest first. */
  async expired(limit = 500): Promise<string[]> {
    const rows = await this.db.resumableUpload.findMany({
      where: { expiresAt: { lte: this.clock() } },
      select: { id: true },
      orderBy: { expiresAt: 'asc' },
      take: limit,
    });
    return rows.map((r) => r.id);
  }

  /** Part files older than `olderThanMs` whose row is gone (a crash between the row's delete and the unlink). */
  async orphanParts(olderThanMs: number): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const ids = names.filter((n) => n.endsWith('.part')).map((n) => n.slice(0, -'.part'.length));
    if (ids.length === 0) return [];
    const known = new Set(
      (await this.db.resumableUpload.findMany({ where: { id: { in: ids.filter(isUuid) } }, select: { id: true } })).map((r) => r.id),
    );
    const orphans: string[] = [];
    for (const id of ids) {
      if (known.has(id)) continue;
      const info = await stat(this.partPath(id)).catch(() => null);
      if (info && this.clock().getTime() - info.mtimeMs >= olderThanMs) orphans.push(id);
    }
    return orphans;
  }
}

const stores = new WeakMap<Services, UploadStore>();

/** The store as the relay's configuration sets it up: one per relay, so its open part files are known to all its users. */
export function storeOf(services: Services): UploadStore {
  let store = stores.get(services);
  if (!store) {
    store = new UploadStore(services.db, services.config.spoolDir, () => services.clock(), services.config.resumable.ttlMs);
    stores.set(services, store);
  }
  return store;
}

const isUuid = (v: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v);

