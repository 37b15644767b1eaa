import type { Services } from '../services.ts';
import { tryLockInTx } from './lock.ts';
import { storeOf } from './store.ts';

// A part file without its row is debris only once no creation can be between its row and its first bytes.
const ORPHAN_AGE_MS = 10 * 60 * 1000;

/**
 * Expire resumable uploads nobody appended to for their lifetime (and completed ones past it): row, then bytes.
 * An upload being appended to right now holds its lock and is left for the next sweep.
 */
export async function sweepResumableUploads(services: Services): Promise<number> {
  const store = storeOf(services);
  let removed = 0;
  for (const id of await store.expired()) {
    const gone = await services.db.$transaction(async (tx) => {
      if (!(await tryLockInTx(tx, id))) return false;
      // Still expired under the lock: an append may have renewed it just before.
      return (await tx.resumableUpload.deleteMany({ where: { id, expiresAt: { lte: services.clock() } } })).count > 0;
    });
    if (!gone) continue;
    await store.unlinkPart(id);
    removed++;
  }
  for (const id of await store.orphanParts(ORPHAN_AGE_MS)) {
    await store.unlinkPart(id);
    removed++;
  }
  return removed;
}
