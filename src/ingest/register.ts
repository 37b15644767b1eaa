import type { AuthedDevice } from '../http/auth.ts';
import type { AssetMeta, Registered } from '../ledger/assets.ts';
import type { Tx } from '../ledger/tx.ts';
import type { Services } from '../services.ts';
import type { TempBlob } from './blob-store.ts';

export type { AssetMeta, Registered };

/**
 * Put received bytes in place and record them, under the content lock: the file is renamed (and its folder fsynced)
 * before the row commits, so no row ever points at missing bytes. When the transaction fails after the rename, the
 * file is removed again unless a row names it, so a failure leaves the file adopted by a row or gone, never neither.
 */
async function placeAndRecord<T>(services: Services, temp: TempBlob, record: (tx: Tx) => Promise<T>): Promise<T> {
  const { ledger, blobs } = services;
  let placed = false;
  try {
    return await ledger.withContent(temp.sha256, async (tx) => {
      await blobs.commit(temp);
      placed = true;
      await ledger.blobs.recordStored(tx, { sha256: temp.sha256, size: temp.size, mimeType: temp.media.mimeType });
      return record(tx);
    });
  } catch (err) {
    // Not yet placed: the temp file is the caller's to discard, as for any failed upload.
    if (placed) {
      await ledger.blobs.removeIfUnclaimed(temp.sha256, () => blobs.remove(temp.sha256)).catch((cleanupErr: unknown) => {
        // The sweeper removes it later; say so rather than hide the first error.
        services.log.warn({ err: cleanupErr, sha256: temp.sha256 }, 'could not remove a blob whose registration failed');
      });
    }
    throw err;
  }
}

/** Make received bytes durable and visible, then register the device's asset (and the account's delivery, once). */
export async function registerUpload(services: Services, device: AuthedDevice, temp: TempBlob, meta: AssetMeta): Promise<Registered> {
  const { ledger } = services;
  const registered = await placeAndRecord(services, temp, async (tx) => {
    const result = await ledger.assets.register(tx, device, temp.sha256, meta);
    await ledger.assets.noteReceived(tx, device.id, temp.size);
    return result;
  });
  if (registered.newDelivery) await services.scheduler.uploads([registered.newDelivery]);
  return registered;
}

/**
 * Make received bytes durable as a blob without registering an asset (or a delivery) for them: for content a client
 * has sent but not yet named as a finished file (a WebDAV upload under a temporary name). A later registerByHash turns
 * the held bytes into an asset. Bytes no asset ever claims are removed by retention like any other content no
 * delivery needs.
 */
export async function storeBlob(services: Services, device: AuthedDevice, temp: TempBlob): Promise<void> {
  await placeAndRecord(services, temp, (tx) => services.ledger.assets.noteReceived(tx, device.id, temp.size));
}

/**
 * Register content this device's account already has (held for one of its devices, or already in its Google library)
 * without its bytes. Null when it has not: the device must upload, even if another account holds the same bytes.
 */
export async function registerByHash(services: Services, device: AuthedDevice, sha256: string, meta: AssetMeta): Promise<Registered | null> {
  const { ledger } = services;
  const registered = await ledger.withContent(sha256, async (tx) => {
    if (!(await ledger.assets.accountHas(device.accountId, [sha256], tx)).has(sha256)) return null;
    return ledger.assets.register(tx, device, sha256, meta);
  });
  if (registered?.newDelivery) await services.scheduler.uploads([registered.newDelivery]);
  return registered;
}

/** Of the given hashes, those the device must upload: content its account does not already have. */
export async function missingHashes(services: Services, accountId: string, hashes: string[]): Promise<string[]> {
  const unique = [...new Set(hashes)];
  const have = await services.ledger.assets.accountHas(accountId, unique);
  return unique.filter((h) => !have.has(h));
}
