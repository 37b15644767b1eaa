import { Prisma } from '../db/generated/client.ts';
import type { Db } from '../db/client.ts';
import { toTimestamp } from '../validation/dates.ts';
import { STATE_SQL, type AssetState } from '../ledger/asset-state.ts';

export { ASSET_STATES, type AssetState } from '../ledger/asset-state.ts';

const FROM_SQL = Prisma.sql`FROM assets a
  JOIN blobs b ON b.sha256 = a.blob_sha256
  JOIN accounts acc ON acc.id = a.account_id
  JOIN deliveries d ON d.blob_sha256 = a.blob_sha256 AND d.account_id = a.account_id`;

interface AssetRow {
  id: string;
  device_id: string;
  account_id: string;
  sha256: string;
  size: bigint;
  mime_type: string;
  file_name: string;
  device_asset_id: string;
  file_created_at: Date | null;
  state: AssetState;
  media_item_id: string | null;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  backed_up_at: Date | null;
}

export interface AssetView {
  id: string;
  deviceId: string;
  accountId: string;
  sha256: string;
  size: number;
  mimeType: string;
  fileName: string;
  deviceAssetId: string;
  fileCreatedAt: string | null;
  state: AssetState;
  googleMediaItemId: string | null;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  backedUpAt: string | null;
}

function toView(r: AssetRow): AssetView {
  return {
    id: r.id,
    deviceId: r.device_id,
    accountId: r.account_id,
    sha256: r.sha256,
    size: Number(r.size),
    mimeType: r.mime_type,
    fileName: r.file_name,
    deviceAssetId: r.device_asset_id,
    // Dates enter only through the date parser; toTimestamp still keeps a row written before it from failing a listing.
    fileCreatedAt: toTimestamp(r.file_created_at),
    state: r.state,
    googleMediaItemId: r.media_item_id,
    attempts: r.attempts,
    lastError: r.last_error,
    createdAt: r.created_at.toISOString(),
    backedUpAt: toTimestamp(r.backed_up_at),
  };
}

const SELECT_SQL = Prisma.sql`SELECT a.id, a.device_id, a.account_id, a.blob_sha256 AS sha256, b.size, b.mime_type,
  a.file_name, a.device_asset_id, a.file_created_at, ${STATE_SQL} AS state, d.media_item_id, d.attempts,
  d.last_error, a.created_at, d.backed_up_at`;

export interface AssetFilter {
  deviceId?: string;
  accountId?: string;
  state?: AssetState;
  /** Assets whose current state was reached at or after this instant. */
  since?: Date;
  ids?: string[];
}

function whereSql(f: AssetFilter, afterId?: string): Prisma.Sql {
  const parts: Prisma.Sql[] = [];
  if (f.deviceId) parts.push(Prisma.sql`a.device_id = ${f.deviceId}::uuid`);
  if (f.accountId) parts.push(Prisma.sql`a.account_id = ${f.accountId}::uuid`);
  if (f.state) parts.push(Prisma.sql`${STATE_SQL} = ${f.state}`);
  if (f.since) parts.push(Prisma.sql`GREATEST(a.created_at, d.updated_at) >= ${f.since}`);
  if (f.ids) parts.push(Prisma.sql`a.id = ANY(${f.ids}::uuid[])`);
  if (afterId) parts.push(Prisma.sql`a.id > ${afterId}::uuid`);
  return parts.length ? Prisma.sql`WHERE ${Prisma.join(parts, ' AND ')}` : Prisma.empty;
}

export async function findAssets(db: Db, filter: AssetFilter, page?: { limit: number; after?: string }): Promise<AssetView[]> {
  const limit = page ? Prisma.sql`LIMIT ${page.limit}` : Prisma.empty;
  const rows = await db.$queryRaw<AssetRow[]>`${SELECT_SQL} ${FROM_SQL} ${whereSql(filter, page?.after)} ORDER BY a.id ${limit}`;
  return rows.map(toView);
}

export async function findAsset(db: Db, id: string, deviceId?: string): Promise<AssetView | null> {
  const [asset] = await findAssets(db, { ids: [id], ...(deviceId ? { deviceId } : {}) });
  return asset ?? null;
}

export interface StateCounts {
  pending: number;
  uploading: number;
  backedUp: number;
  failed: number;
  needsReauth: number;
  paused: number;
}

const COUNT_KEYS: Record<AssetState, keyof StateCounts> = {
  pending: 'pending',
  uploading: 'uploading',
  backed_up: 'backedUp',
  failed: 'failed',
  needs_reauth: 'needsReauth',
  paused: 'paused',
};

export function emptyCounts(): StateCounts {
  return { pending: 0, uploading: 0, backedUp: 0, failed: 0, needsReauth: 0, paused: 0 };
}

/** Asset counts by state, grouped by device or by account, in one query. */
export async function countAssetsBy(db: Db, by: 'device' | 'account', ids: string[]): Promise<Map<string, StateCounts>> {
  const key = by === 'device' ? Prisma.sql`a.device_id` : Prisma.sql`a.account_id`;
  const rows = await db.$queryRaw<{ owner: string; state: AssetState; n: bigint }[]>`
    SELECT ${key} AS owner, ${STATE_SQL} AS state, count(*) AS n ${FROM_SQL}
    WHERE ${key} = ANY(${ids}::uuid[]) GROUP BY 1, 2`;
  const result = new Map(ids.map((id) => [id, emptyCounts()]));
  for (const r of rows) result.get(r.owner)![COUNT_KEYS[r.state]] += Number(r.n);
  return result;
}
