import type { Services } from '../services.ts';

const BATCH = 500;

/**
 * Delete a blob's bytes once every delivery of it is backed up and the grace period has passed (or no account
 * needs it any more: its only accounts were deleted). The row stays (stored = false): it remembers the content
 * was delivered, so phones are not asked for it again.
 */
export async function applyRetention(services: Services): Promise<number> {
  const { config, db, blobs, log } = services;
  if (config.keepOriginals) return 0;
  const cutoff = new Date(services.clock().getTime() - config.retentionHours * 3600_000);
  const candidates = await db.$queryRaw<{ sha256: string }[]>`
    SELECT b.sha256 FROM blobs b
    WHERE b.stored AND b.created_at < ${cutoff}
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.blob_sha256 = b.sha256 AND (d.state <> 'backed_up' OR d.backed_up_at > ${cutoff}))
    LIMIT ${BATCH}`;
  let purged = 0;
  for (const { sha256 } of candidates) {
    const done = await db.$transaction(async (tx) => {
      // The same lock uploads of this content take: a concurrent upload cannot lose its freshly renamed file.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${'blob:' + sha256}, 0))`;
      const updated = await tx.$executeRaw`
        UPDATE blobs SET stored = false, purged_at = ${services.clock()} WHERE sha256 = ${sha256} AND stored AND created_at < ${cutoff}
          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.blob_sha256 = ${sha256} AND (d.state <> 'backed_up' OR d.backed_up_at > ${cutoff}))`;
      if (updated === 1) await blobs.remove(sha256);
      return updated === 1;
    });
    if (done) purged++;
  }
  if (purged > 0) log.info({ purged }, 'retention removed the bytes of backed-up blobs');
  return purged;
}
