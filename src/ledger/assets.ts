import type { Db } from '../db/client.ts';
import type { Tx } from './tx.ts';

/** Assets: one device's reference to one blob (registered by src/ledger/registration.ts). */
export class AssetLedger {
  constructor(private readonly db: Db) {}

  /** The date a client told us a file was made (a WebDAV mtime), once the file is this device's asset. */
  async setFileCreatedAt(tx: Tx, assetId: string, deviceId: string, at: Date): Promise<void> {
    await tx.$executeRaw`UPDATE assets SET file_created_at = ${at} WHERE id = ${assetId}::uuid AND device_id = ${deviceId}::uuid`;
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
