import { newId } from '../db/ids.ts';
import type { Db } from '../db/client.ts';
import type { AuthedDevice } from '../http/auth.ts';
import type { Services } from '../services.ts';
import type { TempBlob } from './blob-store.ts';
import type { DeliveryRef } from '../forwarding/queue.ts';

export interface AssetMeta {
  deviceAssetId: string;
  fileName: string;
  fileCreatedAt: Date | null;
}

export interface Registered {
  assetId: string;
  duplicate: boolean;
  /** Set when this registration created the account's delivery of the content: it needs a forwarding job. */
  newDelivery: DeliveryRef | null;
}

type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

// Renames and fsyncs happen inside: give slow disks room before Prisma aborts the transaction.
const TX_OPTIONS = { timeout: 60_000, maxWait: 30_000 };

/**
 * Serialises everything that touches one content hash (uploads of the same bytes, retention deleting them)
 * across processes and machines, for the length of the transaction.
 */
async function lockContent(tx: Tx, sha256: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${'blob:' + sha256}, 0))`;
}

async function insertAsset(tx: Tx, device: AuthedDevice, sha256: string, meta: AssetMeta): Promise<Registered> {
  const id = newId();
  const inserted = await tx.$executeRaw`
    INSERT INTO assets (id, device_id, account_id, blob_sha256, device_asset_id, file_name, file_created_at)
    VALUES (${id}::uuid, ${device.id}::uuid, ${device.accountId}::uuid, ${sha256}, ${meta.deviceAssetId}, ${meta.fileName}, ${meta.fileCreatedAt})
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
  const newDelivery = await tx.$executeRaw`
    INSERT INTO deliveries (id, account_id, blob_sha256) VALUES (${deliveryId}::uuid, ${device.accountId}::uuid, ${sha256})
    ON CONFLICT (blob_sha256, account_id) DO NOTHING`;
  if (newDelivery === 0) return { assetId, duplicate: inserted === 0, newDelivery: null };
  const [backlog] = await tx.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n FROM deliveries WHERE account_id = ${device.accountId}::uuid AND state IN ('pending', 'uploading')`;
  return { assetId, duplicate: inserted === 0, newDelivery: { id: deliveryId, accountId: device.accountId, rank: Number(backlog?.n ?? 1) } };
}

/**
 * Make received bytes durable and visible, then record them: the file is renamed into place before the row
 * commits, so no row ever points at missing bytes; a crash between the two leaves at worst a blob file no row
 * names yet, which the next upload of that content adopts.
 */
export async function registerUpload(services: Services, device: AuthedDevice, temp: TempBlob, meta: AssetMeta): Promise<Registered> {
  const { db, blobs } = services;
  const registered = await db.$transaction(async (tx) => {
    await lockContent(tx, temp.sha256);
    await blobs.commit(temp);
    await tx.$executeRaw`
      INSERT INTO blobs (sha256, size, mime_type) VALUES (${temp.sha256}, ${temp.size}, ${temp.media.mimeType})
      ON CONFLICT (sha256) DO UPDATE SET stored = true, purged_at = NULL`;
    const result = await insertAsset(tx, device, temp.sha256, meta);
    await tx.$executeRaw`
      UPDATE devices SET bytes_received = bytes_received + ${temp.size}, last_seen_at = now() WHERE id = ${device.id}::uuid`;
    return result;
  }, TX_OPTIONS);
  if (registered.newDelivery) await services.queues.enqueueUploads([registered.newDelivery]);
  return registered;
}

/**
 * Make received bytes durable as a blob without registering an asset (or a delivery) for them: for content a client
 * has sent but not yet named as a finished file (a WebDAV upload under a temporary name). The same lock, rename and
 * blob row as registerUpload; a later registerByHash turns the held bytes into an asset. Bytes no asset ever claims
 * are removed by retention like any other content no delivery needs.
 */
export async function storeBlob(services: Services, device: AuthedDevice, temp: TempBlob): Promise<void> {
  const { db, blobs } = services;
  await db.$transaction(async (tx) => {
    await lockContent(tx, temp.sha256);
    await blobs.commit(temp);
    await tx.$executeRaw`
      INSERT INTO blobs (sha256, size, mime_type) VALUES (${temp.sha256}, ${temp.size}, ${temp.media.mimeType})
      ON CONFLICT (sha256) DO UPDATE SET stored = true, purged_at = NULL`;
    await tx.$executeRaw`
      UPDATE devices SET bytes_received = bytes_received + ${temp.size}, last_seen_at = now() WHERE id = ${device.id}::uuid`;
  }, TX_OPTIONS);
}

/**
 * Register content the household already holds, or that this account already has in Google Photos,
 * without its bytes. Returns null when neither is true: the device must upload.
 */
export async function registerByHash(
  services: Services,
  device: AuthedDevice,
  sha256: string,
  meta: AssetMeta,
): Promise<Registered | null> {
  const registered = await services.db.$transaction(async (tx) => {
    await lockContent(tx, sha256);
    const [known] = await tx.$queryRaw<{ held: boolean }[]>`
      SELECT true AS held FROM blobs b WHERE b.sha256 = ${sha256} AND (b.stored OR EXISTS (
        SELECT 1 FROM deliveries d WHERE d.blob_sha256 = b.sha256 AND d.account_id = ${device.accountId}::uuid AND d.state = 'backed_up'))`;
    if (!known) return null;
    return insertAsset(tx, device, sha256, meta);
  }, TX_OPTIONS);
  if (registered?.newDelivery) await services.queues.enqueueUploads([registered.newDelivery]);
  return registered;
}

/** Of the given hashes, those the device must upload: not held here, and not already in its account's library. */
export async function missingHashes(db: Db, accountId: string, hashes: string[]): Promise<string[]> {
  const unique = [...new Set(hashes)];
  const known = await db.$queryRaw<{ sha256: string }[]>`
    SELECT b.sha256 FROM blobs b WHERE b.sha256 = ANY(${unique}::char(64)[]) AND (b.stored OR EXISTS (
      SELECT 1 FROM deliveries d WHERE d.blob_sha256 = b.sha256 AND d.account_id = ${accountId}::uuid AND d.state = 'backed_up'))`;
  const have = new Set(known.map((r) => r.sha256.trim()));
  return unique.filter((h) => !have.has(h));
}
