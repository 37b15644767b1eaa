import type { AuthedDevice } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import type { AssetMeta, Recorded, Registered } from '../ledger/registration.ts';
import type { Services } from '../services.ts';
import type { TempBlob } from './blob-store.ts';

export type { AssetMeta, Registered };

/** The device was revoked (or removed) while its upload was on the way: the registration recorded nothing. */
function revoked(): ApiError {
  return new ApiError('unauthorized', 'Invalid or revoked device token');
}

/**
 * Put received bytes in place and record them, under the content lock: the file is renamed (and its folder fsynced)
 * before the row commits, so no row ever points at missing bytes. When the transaction fails after the rename (or the
 * device turns out revoked), the file is removed again unless a row names it, so a failure leaves the file adopted by a
 * row or gone, never neither.
 */
async function placeAndRecord(services: Services, device: AuthedDevice, temp: TempBlob, asset?: AssetMeta): Promise<Recorded> {
  const { ledger, blobs } = services;
  let placed = false;
  try {
    const recorded = await ledger.registrations.placeAndRecord(
      {
        device,
        sha256: temp.sha256,
        stored: { size: temp.size, mimeType: temp.media.mimeType },
        ...(asset ? { asset } : {}),
      },
      async () => {
        const placing = await blobs.place(temp);
        placed = true;
        return placing;
      },
    );
    if (!recorded.deviceValid) throw revoked();
    await ledger.traffic.received(device.id, temp.size);
    return recorded;
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

/**
 * A new delivery's forwarding job is a hint (the ledger is the truth, and the reconciler schedules any delivery
 * without a job): it is handed to the scheduler, which sends hints in batches, and the answer does not wait for Redis.
 */
function schedule(services: Services, registered: Registered | null): void {
  if (registered?.newDelivery) void services.scheduler.uploads([registered.newDelivery]);
}

/** Make received bytes durable and visible, then register the device's asset (and the account's delivery, once). */
export async function registerUpload(services: Services, device: AuthedDevice, temp: TempBlob, meta: AssetMeta): Promise<Registered> {
  const registered = (await placeAndRecord(services, device, temp, meta)).registered!;
  schedule(services, registered);
  return registered;
}

/**
 * Make received bytes durable as a blob without registering an asset (or a delivery) for them: for content a client
 * has sent but not yet named as a finished file (a WebDAV upload under a temporary name). A later registerByHash turns
 * the held bytes into an asset. Bytes no asset ever claims are removed by retention like any other content no
 * delivery needs.
 */
export async function storeBlob(services: Services, device: AuthedDevice, temp: TempBlob): Promise<void> {
  await placeAndRecord(services, device, temp);
}

/**
 * Register content this device's account already has (held for one of its devices, or already in its Google library)
 * without its bytes. Null when it has not: the device must upload, even if another account holds the same bytes.
 */
export async function registerByHash(services: Services, device: AuthedDevice, sha256: string, meta: AssetMeta): Promise<Registered | null> {
  const { ledger } = services;
  const recorded = await ledger.withContent(sha256, async (tx) => {
    if (!(await ledger.assets.accountHas(device.accountId, [sha256], tx)).has(sha256)) return null;
    return ledger.registrations.record(tx, { device, sha256, asset: meta });
  });
  if (recorded && !recorded.deviceValid) throw revoked();
  const registered = recorded?.registered ?? null;
  schedule(services, registered);
  return registered;
}

/** Of the given hashes, those the device must upload: content its account does not already have. */
export async function missingHashes(services: Services, accountId: string, hashes: string[]): Promise<string[]> {
  const unique = [...new Set(hashes)];
  const have = await services.ledger.assets.accountHas(accountId, unique);
  return unique.filter((h) => !have.has(h));
}
