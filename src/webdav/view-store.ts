import type { Db } from '../db/client.ts';
import type { AssetLedger } from '../ledger/assets.ts';
import type { Tx } from '../ledger/tx.ts';
import type { Services } from '../services.ts';
import { ApiError } from '../http/errors.ts';
import { conflict } from './errors.ts';
import { ancestorsOf, parentOf, ROOT, type TreePath } from './paths.ts';

type Queryable = Db | Tx;

/**
 * A device's WebDAV view: folders and file names over content-addressed blobs. Nothing here ever touches the
 * ledger's blobs, assets or deliveries: renaming or deleting an entry changes only what this device's WebDAV client
 * sees. Every change runs in a transaction holding the device's view lock, so concurrent requests of one device
 * (rclone runs several) never interleave a tree operation.
 */
export interface Entry {
  path: TreePath;
  kind: 'file' | 'collection';
  blobSha256: string | null;
  assetId: string | null;
  size: number;
  /** The modification time the client told us, if any. */
  mtime: Date | null;
  createdAt: Date;
  updatedAt: Date;
  mimeType: string | null;
  /** Whether the relay still holds the bytes (retention removes them once Google Photos has them). */
  stored: boolean;
}

interface EntryRow {
  path: string;
  kind: 'file' | 'collection';
  blob_sha256: string | null;
  asset_id: string | null;
  size: bigint;
  mtime: Date | null;
  created_at: Date;
  updated_at: Date;
  mime_type: string | null;
  stored: boolean | null;
}

function toEntry(row: EntryRow): Entry {
  return {
    path: row.path,
    kind: row.kind,
    blobSha256: row.blob_sha256?.trim() ?? null,
    assetId: row.asset_id,
    size: Number(row.size),
    mtime: row.mtime,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    mimeType: row.mime_type,
    stored: row.stored ?? false,
  };
}

/** The root always exists; it has no row. */
export function rootEntry(now: Date): Entry {
  return {
    path: ROOT,
    kind: 'collection',
    blobSha256: null,
    assetId: null,
    size: 0,
    mtime: null,
    createdAt: now,
    updatedAt: now,
    mimeType: null,
    stored: false,
  };
}

const SELECT_ENTRY = `SELECT e.path, e.kind::text AS kind, e.blob_sha256, e.asset_id, e.size, e.mtime, e.created_at, e.updated_at, b.mime_type, b.stored
  FROM dav_entries e LEFT JOIN blobs b ON b.sha256 = e.blob_sha256`;

export async function findEntry(db: Queryable, deviceId: string, path: TreePath, now = new Date()): Promise<Entry | null> {
  if (path === ROOT) return rootEntry(now);
  const rows = await db.$queryRawUnsafe<EntryRow[]>(`${SELECT_ENTRY} WHERE e.device_id = $1::uuid AND e.path = $2`, deviceId, path);
  return rows[0] ? toEntry(rows[0]) : null;
}

/** One page of a collection's members, in path order, after `after`. */
export async function listChildren(db: Db, deviceId: string, parent: TreePath, after: string | null, limit: number): Promise<Entry[]> {
  const rows = await db.$queryRawUnsafe<EntryRow[]>(
    `${SELECT_ENTRY} WHERE e.device_id = $1::uuid AND e.parent = $2 AND ($3::text IS NULL OR e.path > $3) ORDER BY e.path LIMIT $4`,
    deviceId,
    parent,
    after,
    limit,
  );
  return rows.map(toEntry);
}

/** One page of everything below `path` (not itself), in path order, after `after`. */
export async function listBelow(db: Db, deviceId: string, path: TreePath, after: string | null, limit: number): Promise<Entry[]> {
  const prefix = path === ROOT ? '/' : `${path}/`;
  const rows = await db.$queryRawUnsafe<EntryRow[]>(
    `${SELECT_ENTRY} WHERE e.device_id = $1::uuid AND starts_with(e.path, $2) AND ($3::text IS NULL OR e.path > $3) ORDER BY e.path LIMIT $4`,
    deviceId,
    prefix,
    after,
    limit,
  );
  return rows.map(toEntry);
}

export async function countBelow(db: Db, deviceId: string, path: TreePath): Promise<number> {
  const prefix = path === ROOT ? '/' : `${path}/`;
  const [row] = await db.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM dav_entries WHERE device_id = ${deviceId}::uuid AND starts_with(path, ${prefix})`;
  return Number(row?.n ?? 0);
}

/** The files at or below `path`: what a MOVE or COPY of it carries. */
export async function filesWithin(db: Queryable, deviceId: string, path: TreePath): Promise<Entry[]> {
  const rows = await db.$queryRawUnsafe<EntryRow[]>(
    `${SELECT_ENTRY} WHERE e.device_id = $1::uuid AND e.kind = 'file' AND (e.path = $2 OR starts_with(e.path, $3)) ORDER BY e.path`,
    deviceId,
    path,
    `${path}/`,
  );
  return rows.map(toEntry);
}

// A tree operation may touch every entry of a device (a COPY or MOVE of a large folder, a DELETE of the root's
// children): Prisma's default of 5 s for an interactive transaction would cut it on a busy host with a 500, and no
// limit at all would let one hold the device's view lock and a connection for ever. So: an explicit budget
// (DAV_TRANSACTION_TIMEOUT_SECONDS), the database held to the same one (statement_timeout, which covers the wait for
// the view lock: set before it, as Prisma's own budget cannot end a statement already waiting), and a refusal the
// client retries (503 not_ready) when it runs out.
// How long to wait for a connection from the pool.
const VIEW_TX_MAX_WAIT_MS = 10_000;

/** Run `fn` in a transaction holding this device's view lock, within the configured budget. */
export async function withView<T>(
  { db, config }: Pick<Services, 'db' | 'config'>,
  deviceId: string,
  fn: (tx: Tx) => Promise<T>,
): Promise<T> {
  const budgetMs = config.davTransactionTimeoutMs;
  try {
    return await db.$transaction(
      async (tx) => {
        await tx.$executeRawUnsafe(`SET LOCAL statement_timeout = ${Math.floor(budgetMs)}`);
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${'dav:' + deviceId}, 0))`;
        return fn(tx);
      },
      { timeout: budgetMs, maxWait: VIEW_TX_MAX_WAIT_MS },
    );
  } catch (err) {
    if (isTimeout(err)) throw new ApiError('not_ready', 'The folder is busy with a long operation; try again shortly');
    throw err;
  }
}

function isTimeout(err: unknown): boolean {
  const e = err as { code?: string; meta?: { driverAdapterError?: { cause?: { originalCode?: string } } } };
  // P2028: the transaction's budget (or the wait for a connection) ran out; 57014: statement_timeout; 55P03: lock_timeout.
  const pg = e?.meta?.driverAdapterError?.cause?.originalCode;
  return e?.code === 'P2028' || pg === '57014' || pg === '55P03';
}

/**
 * Refuse when this device's view holds more than `limit` entries. Counted with a bound, so the check costs at most
 * `limit` index entries whatever a device holds. Called inside the transaction that added entries (which then rolls
 * back), and before work that would add `adding` more.
 */
export async function checkRoom(db: Queryable, deviceId: string, limit: number, adding = 0): Promise<void> {
  const [row] = await db.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM (SELECT 1 FROM dav_entries WHERE device_id = ${deviceId}::uuid LIMIT ${limit + 1}) AS capped`;
  if (Number(row?.n ?? 0) + adding > limit) {
    throw new ApiError(
      'insufficient_storage',
      `This device's WebDAV folder holds at most ${limit} files and folders; delete some before adding more`,
    );
  }
}

/** The byte length of the longest path at or below `path`: what a MOVE or COPY of it must fit at its destination. */
export async function longestPathWithin(db: Queryable, deviceId: string, path: TreePath): Promise<number> {
  const [row] = await db.$queryRaw<{ n: number | null }[]>`
    SELECT max(octet_length(path))::int AS n FROM dav_entries
    WHERE device_id = ${deviceId}::uuid AND (path = ${path} OR starts_with(path, ${path + '/'}))`;
  return row?.n ?? Buffer.byteLength(path);
}

/** Refuse when a file sits where `path` needs a folder above it. */
export async function checkAncestors(db: Queryable, deviceId: string, path: TreePath): Promise<void> {
  const ancestors = ancestorsOf(path);
  if (ancestors.length === 0) return;
  const [file] = await db.$queryRaw<{ path: string }[]>`
    SELECT path FROM dav_entries WHERE device_id = ${deviceId}::uuid AND path = ANY(${ancestors}::text[]) AND kind = 'file' LIMIT 1`;
  if (file) throw conflict(`${file.path} is a file, not a folder`);
}

/** Folders above `path` exist implicitly: create the missing ones (clients differ on whether they MKCOL first). */
export async function ensureParents(tx: Tx, deviceId: string, path: TreePath): Promise<void> {
  await checkAncestors(tx, deviceId, path);
  const ancestors = ancestorsOf(path);
  if (ancestors.length === 0) return;
  const parents = ancestors.map(parentOf);
  await tx.$executeRaw`
    INSERT INTO dav_entries (id, device_id, path, parent, kind)
    SELECT gen_random_uuid(), ${deviceId}::uuid, t.path, t.parent, 'collection'
    FROM unnest(${ancestors}::text[], ${parents}::text[]) AS t(path, parent)
    ON CONFLICT (device_id, path) DO NOTHING`;
}

export interface FileData {
  blobSha256: string;
  size: number;
  mtime: Date | null;
  assetId: string | null;
}

/** Create or replace the file at `path` (its parents included). Returns whether it is new; refuses a folder's path. */
export async function putFile(tx: Tx, deviceId: string, path: TreePath, file: FileData): Promise<boolean> {
  await ensureParents(tx, deviceId, path);
  const rows = await tx.$queryRaw<{ created: boolean }[]>`
    INSERT INTO dav_entries (id, device_id, path, parent, kind, blob_sha256, asset_id, size, mtime)
    VALUES (gen_random_uuid(), ${deviceId}::uuid, ${path}, ${parentOf(path)}, 'file', ${file.blobSha256}, ${file.assetId}::uuid, ${file.size}, ${file.mtime})
    ON CONFLICT (device_id, path) DO UPDATE SET blob_sha256 = EXCLUDED.blob_sha256, asset_id = EXCLUDED.asset_id,
      size = EXCLUDED.size, mtime = EXCLUDED.mtime, updated_at = now()
    WHERE dav_entries.kind = 'file'
    RETURNING (xmax = 0) AS created`;
  if (!rows[0]) throw conflict(`${path} is a folder`);
  return rows[0].created;
}

/** Create the folder at `path` (its parents included). Returns false when something already exists there. */
export async function makeCollection(tx: Tx, deviceId: string, path: TreePath): Promise<boolean> {
  await ensureParents(tx, deviceId, path);
  const inserted = await tx.$executeRaw`
    INSERT INTO dav_entries (id, device_id, path, parent, kind) VALUES (gen_random_uuid(), ${deviceId}::uuid, ${path}, ${parentOf(path)}, 'collection')
    ON CONFLICT (device_id, path) DO NOTHING`;
  return inserted === 1;
}

/** Remove `path` and everything below it from the view. Returns how many entries went. */
export async function removeTree(tx: Tx, deviceId: string, path: TreePath): Promise<number> {
  return tx.$executeRaw`
    DELETE FROM dav_entries WHERE device_id = ${deviceId}::uuid AND (path = ${path} OR starts_with(path, ${path + '/'}))`;
}

/** Rename `from` (and everything below it) to `to`. The caller has made sure `to` is free and not inside `from`. */
export async function moveTree(tx: Tx, deviceId: string, from: TreePath, to: TreePath): Promise<void> {
  await tx.$executeRaw`
    UPDATE dav_entries SET
      path = ${to} || substr(path, length(${from}) + 1),
      parent = CASE WHEN path = ${from} THEN ${parentOf(to)} ELSE ${to} || substr(parent, length(${from}) + 1) END,
      updated_at = now()
    WHERE device_id = ${deviceId}::uuid AND (path = ${from} OR starts_with(path, ${from + '/'}))`;
}

/** Copy `from` (with everything below it unless `shallow`) to `to`, which the caller has made sure is free. */
export async function copyTree(tx: Tx, deviceId: string, from: TreePath, to: TreePath, shallow: boolean): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO dav_entries (id, device_id, path, parent, kind, blob_sha256, asset_id, size, mtime)
    SELECT gen_random_uuid(), device_id, ${to} || substr(path, length(${from}) + 1),
      CASE WHEN path = ${from} THEN ${parentOf(to)} ELSE ${to} || substr(parent, length(${from}) + 1) END,
      kind, blob_sha256, asset_id, size, mtime
    FROM dav_entries
    WHERE device_id = ${deviceId}::uuid AND (path = ${from} OR (NOT ${shallow} AND starts_with(path, ${from + '/'})))`;
}

/** Record which asset each file (by path) became. */
export async function setAssets(tx: Tx, deviceId: string, assets: Map<TreePath, string>): Promise<void> {
  if (assets.size === 0) return;
  const paths = [...assets.keys()];
  const ids = [...assets.values()];
  await tx.$executeRaw`
    UPDATE dav_entries e SET asset_id = t.asset_id, updated_at = now()
    FROM unnest(${paths}::text[], ${ids}::uuid[]) AS t(path, asset_id)
    WHERE e.device_id = ${deviceId}::uuid AND e.path = t.path AND e.kind = 'file'`;
}

/**
 * Record the modification time a client set on a file; when the file already became an asset of this device, it
 * becomes the asset's fileCreatedAt too (the only place a WebDAV client can tell us when a photo was taken).
 */
export async function setMtime(tx: Tx, assets: AssetLedger, deviceId: string, path: TreePath, mtime: Date): Promise<void> {
  const rows = await tx.$queryRaw<{ asset_id: string | null }[]>`
    UPDATE dav_entries SET mtime = ${mtime}, updated_at = now()
    WHERE device_id = ${deviceId}::uuid AND path = ${path} AND kind = 'file'
    RETURNING asset_id`;
  const assetId = rows[0]?.asset_id;
  if (assetId) await assets.setFileCreatedAt(tx, assetId, deviceId, mtime);
}
