import type pg from 'pg';
import { Prisma } from '../db/generated/client.ts';
import { newId } from '../db/ids.ts';
import { STATE_SQL, type AssetState } from './asset-state.ts';
import { inBacklog } from './backlog.ts';
import { withContentLockPg } from './content-lock.ts';
import type { DeliveryRef } from './scheduler.ts';
import type { Clock, Tx } from './tx.ts';

export interface AssetMeta {
  deviceAssetId: string;
  fileName: string;
  fileCreatedAt: Date | null;
}

export interface Owner {
  /** The device the asset belongs to. */
  id: string;
  accountId: string;
}

export interface Registered {
  assetId: string;
  duplicate: boolean;
  /** Set when this registration opened the account's delivery of the content: it needs a forwarding job. */
  newDelivery: DeliveryRef | null;
  /** What the upload's answer shows of the asset, read in the same statement (asset-view's state rule). */
  view: { size: number; mimeType: string; state: AssetState };
}

/** What one registration records. The device's row is always checked: a revoked (or removed) device records nothing. */
export interface Registration {
  device: Owner;
  sha256: string;
  /** The bytes are in place (renamed and fsynced): record the blob, or mark it held again. */
  stored?: { size: number; mimeType: string };
  /** Register the device's asset of the content, and open the account's delivery of it, once. */
  asset?: AssetMeta;
}

export interface Recorded {
  /** False when the device is revoked or gone: then nothing was recorded. */
  deviceValid: boolean;
  /** With `asset` (and a valid device): what became of it. */
  registered: Registered | null;
}

interface Row {
  device_valid: boolean;
  asset_id?: string;
  duplicate?: boolean;
  new_delivery_id?: string | null;
  backlog_rank?: bigint | string | null;
  size?: bigint | string;
  mime_type?: string;
  state?: AssetState;
}

/**
 * A registration as one SQL statement: the device check, the blob row, the asset (or the one this device has), the
 * account's delivery (once, with its place in the account's backlog for the scheduler) and the asset's answer. Every
 * part reads the same snapshot, taken after the content lock was granted, and all of them commit or none. The
 * uniqueness constraints stay the truth of dedupe (ON CONFLICT), as they were statement by statement. The device's
 * byte count is not here (DeviceTraffic): its row would be locked through the commit.
 */
export function registrationSql(r: Registration, ids: { assetId: string; deliveryId: string }, now: Date): Prisma.Sql {
  const { device, sha256 } = r;
  const parts = [Prisma.sql`dev AS (SELECT id, account_id FROM devices WHERE id = ${device.id}::uuid AND revoked_at IS NULL)`];
  if (r.stored) {
    parts.push(Prisma.sql`held AS (
      INSERT INTO blobs (sha256, size, mime_type, created_at)
      SELECT ${sha256}, ${r.stored.size}::bigint, ${r.stored.mimeType}, ${now}::timestamptz FROM dev
      ON CONFLICT (sha256) DO UPDATE SET stored = true, purged_at = NULL
      RETURNING size, mime_type)`);
  }
  if (r.asset) {
    const meta = r.asset;
    parts.push(
      Prisma.sql`new_asset AS (
        INSERT INTO assets (id, device_id, account_id, blob_sha256, device_asset_id, file_name, file_created_at, created_at)
        SELECT ${ids.assetId}::uuid, dev.id, dev.account_id, ${sha256}, ${meta.deviceAssetId}, ${meta.fileName},
          ${meta.fileCreatedAt}::timestamptz, ${now}::timestamptz FROM dev
        ON CONFLICT (device_id, blob_sha256) DO NOTHING
        RETURNING id)`,
      Prisma.sql`new_delivery AS (
        INSERT INTO deliveries (id, account_id, blob_sha256, created_at, updated_at)
        SELECT ${ids.deliveryId}::uuid, dev.account_id, ${sha256}, ${now}::timestamptz, ${now}::timestamptz FROM dev
        ON CONFLICT (blob_sha256, account_id) DO NOTHING
        RETURNING id)`,
    );
  }
  const withParts = Prisma.sql`WITH ${Prisma.join(parts, ',\n')}`;
  if (!r.asset) return Prisma.sql`${withParts} SELECT EXISTS (SELECT 1 FROM dev) AS device_valid`;
  // The snapshot predates this statement's own rows: an existing asset and delivery are read from the tables, new
  // ones from RETURNING; a new delivery is pending (the rank counts the backlog before it, plus itself).
  const size = r.stored ? Prisma.sql`COALESCE((SELECT size FROM held), b.size)` : Prisma.sql`b.size`;
  const mime = r.stored ? Prisma.sql`COALESCE((SELECT mime_type FROM held), b.mime_type)` : Prisma.sql`b.mime_type`;
  return Prisma.sql`${withParts}
    SELECT EXISTS (SELECT 1 FROM dev) AS device_valid,
      COALESCE((SELECT id FROM new_asset), a.id) AS asset_id,
      NOT EXISTS (SELECT 1 FROM new_asset) AS duplicate,
      (SELECT id FROM new_delivery) AS new_delivery_id,
      CASE WHEN EXISTS (SELECT 1 FROM new_delivery) THEN
        (SELECT count(*) FROM deliveries q WHERE q.account_id = acc.id AND ${inBacklog('q')}) + 1 END AS backlog_rank,
      ${size} AS size, ${mime} AS mime_type, COALESCE(${STATE_SQL}, 'pending') AS state
    FROM accounts acc
      LEFT JOIN assets a ON a.device_id = ${device.id}::uuid AND a.blob_sha256 = ${sha256}
      LEFT JOIN blobs b ON b.sha256 = ${sha256}
      LEFT JOIN deliveries d ON d.blob_sha256 = ${sha256} AND d.account_id = acc.id
    WHERE acc.id = ${device.accountId}::uuid`;
}

function toRecorded(r: Registration, ids: { deliveryId: string }, row: Row | undefined): Recorded {
  if (!row?.device_valid) return { deviceValid: false, registered: null };
  if (!r.asset) return { deviceValid: true, registered: null };
  const newDelivery = row.new_delivery_id
    ? { id: ids.deliveryId, accountId: r.device.accountId, rank: Number(row.backlog_rank ?? 1) }
    : null;
  return {
    deviceValid: true,
    registered: {
      assetId: row.asset_id!,
      duplicate: row.duplicate!,
      newDelivery,
      view: { size: Number(row.size), mimeType: row.mime_type!, state: row.state! },
    },
  };
}

/** The statement's text depends only on which parts a registration has: one prepared statement per shape. */
function statementName(r: Registration): string {
  return `registration${r.stored ? '+stored' : ''}${r.asset ? '+asset' : ''}`;
}

/** Registrations: the only writer of a new blob, asset or delivery row. */
export class RegistrationLedger {
  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
  ) {}

  /**
   * The upload path: under the content lock, `place` puts the bytes in place (the rename), one statement records them
   * while the name is being made durable (`synced`, the folder's fsync), and COMMIT follows both: three round trips
   * to Postgres, and no row commits before its file's name is durable. When anything fails, nothing commits.
   */
  async placeAndRecord(r: Registration, place: () => Promise<{ synced(): Promise<void> }>): Promise<Recorded> {
    return withContentLockPg(this.pool, r.sha256, async (client) => {
      const { synced } = await place();
      const ids = { assetId: newId(), deliveryId: newId() };
      const sql = registrationSql(r, ids, this.clock());
      // Named, so each connection parses and plans it once: on a small machine Postgres's CPU is the upload's too.
      const [recorded, durable] = await Promise.allSettled([
        client.query<Row>({ name: statementName(r), text: sql.text, values: sql.values }),
        synced(),
      ]);
      if (durable.status === 'rejected') throw durable.reason;
      if (recorded.status === 'rejected') throw recorded.reason;
      return toRecorded(r, ids, recorded.value.rows[0]);
    });
  }

  /** The same statement in a transaction that already holds the content lock (registering by hash). */
  async record(tx: Tx, r: Registration): Promise<Recorded> {
    const ids = { assetId: newId(), deliveryId: newId() };
    const rows = await tx.$queryRaw<Row[]>(registrationSql(r, ids, this.clock()));
    return toRecorded(r, ids, rows[0]);
  }
}
