import type { Services } from '../services.ts';

const BATCH = 500;

/**
 * Delete a blob's bytes once every delivery of it is backed up and the grace period has passed (or no account
 * needs it any more: its only accounts were deleted). The row stays (stored = false): it remembers the content
 * was delivered, so phones are not asked for it again.
 */
export async function applyRetention(services: Services): Promise<number> {
  const { config, ledger, blobs, log } = services;
  if (config.keepOriginals) return 0;
  const cutoff = new Date(services.clock().getTime() - config.retentionHours * 3600_000);
  let purged = 0;
  for (const sha256 of await ledger.blobs.purgeable(cutoff, BATCH)) {
    if (await ledger.blobs.purge(sha256, cutoff, () => blobs.remove(sha256))) purged++;
  }
  if (purged > 0) log.info({ purged }, 'retention removed the bytes of backed-up blobs');
  return purged;
}
