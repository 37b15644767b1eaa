import type { Db } from '../db/client.ts';
import { newId } from '../db/ids.ts';
import type { DeliveryLedger } from './deliveries.ts';
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
}

/** Assets: one device's reference to one blob. Registering one opens the account's delivery of the blob, once. */
export class AssetLedger {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly deliveries: DeliveryLedger,
  ) {}

  /** Record the device's asset for content whose blob row exists. Caller holds the content lock. */
  async register(tx: Tx, device: Owner, sha256: string, meta: AssetMeta): Promise<Registered> {
    const id = newId();
    const inserted = await tx.$executeRaw`
      INSERT INTO assets (id, device_id, account_id, blob_sha256, device_asset_id, file_name, file_created_at, created_at)
      VALUES (${id}::uuid, ${device.id}::uuid, ${device.accountId}::uuid, ${sha256}, ${meta.deviceAssetId}, ${meta.fileName},
        ${meta.fileCreatedAt}, ${this.clock()})
      ON CONFLICT (device_id, blob_sha256) DO NOTHING`;
    let assetId = id;
    if (inserted === 0) {
      // The unique (device, content) constraint is the truth of dedupe: this device already has this content.
      const existing = await tx.asset.findUniqueOrThrow({
        where: { deviceId_blobSha256: { deviceId: device.id, blobSha256: sha256 } },
        select: { id: true },
      });
      assetId = existing.id;
    }
    const deliveryId = newId();
    if (!(await this.deliveries.open(tx, deliveryId, device.accountId, sha256))) {
      return { assetId, duplicate: inserted === 0, newDelivery: null };
    }
    const rank = await this.deliveries.backlogRank(tx, device.accountId);
    return { assetId, duplicate: inserted === 0, newDelivery: { id: deliveryId, accountId: device.accountId, rank } };
  }

  /** The date a client told us a file was made (a WebDAV mtime), once the file is this device's asset. */
  async setFileCreatedAt(tx: Tx, assetId: string, deviceId: string, at: Date): Promise<void> {
    await tx.$executeRaw`UPDATE assets SET file_created_at = ${at} WHERE id = ${assetId}::uuid AND device_id = ${deviceId}::uuid`;
  }

  /** Count bytes a device sent and when it was last heard from. */
  async noteReceived(tx: Tx, deviceId: string, bytes: number): Promise<void> {
    await tx.$executeRaw`
      UPDATE devices SET bytes_received = bytes_received + ${bytes}, last_seen_at = ${this.clock()} WHERE id = ${deviceId}::uuid`;
  }

  /**
   * Of these hashes, those whose content the account already has: held in the spool for one of its own devices (an
   * asset, or a WebDAV file not yet named), or already delivered to its Google library. Content held only for another
   * account does not count: a hash is never a key to someone else's photo.
   */
  async accountHas(accountId: string, hashes: string[], tx?: Tx): Promise<Set<string>> {
    const rows = await (tx ?? this.db).$queryRaw<{ sha256: string }[]>`
      SELECT b.sha256 FROM blobs b
      WHERE b.sha256 = ANY(${hashes}::char(64)[]) AND (
        (b.stored AND (
          EXISTS (SELECT 1 FROM assets a WHERE a.blob_sha256 = b.sha256 AND a.account_id = ${accountId}::uuid)
          OR EXISTS (SELECT 1 FROM dav_entries e JOIN devices v ON v.id = e.device_id
                     WHERE e.blob_sha256 = b.sha256 AND v.account_id = ${accountId}::uuid)))
        OR EXISTS (SELECT 1 FROM deliveries d WHERE d.blob_sha256 = b.sha256 AND d.account_id = ${accountId}::uuid AND d.state = 'backed_up'))`;
    return new Set(rows.map((r) => r.sha256.trim()));
  }
}
