import { readdir } from 'node:fs/promises';
import type { Services } from '../services.ts';

/**
 * Remove blob files no row names: left when a registration's transaction failed after its rename. The
 * content lock is held from before an upload's rename until its commit, so under it "no row" means orphan.
 */
export async function sweepOrphanBlobs(services: Services): Promise<number> {
  const { blobs, db } = services;
  let removed = 0;
  const entries = await readdir(blobs.blobsDir, { recursive: true, withFileTypes: true }).catch(() => []);
  const names = entries.filter((e) => e.isFile() && /^[0-9a-f]{64}$/.test(e.name)).map((e) => e.name);
  for (let i = 0; i < names.length; i += 1000) {
    const chunk = names.slice(i, i + 1000);
    const known = await db.blob.findMany({ where: { sha256: { in: chunk }, stored: true }, select: { sha256: true } });
    const knownSet = new Set(known.map((b) => b.sha256));
    for (const sha256 of chunk.filter((s) => !knownSet.has(s))) {
      const gone = await db.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${'blob:' + sha256}, 0))`;
        const row = await tx.blob.findUnique({ where: { sha256 }, select: { stored: true } });
        if (row?.stored) return false;
        await blobs.remove(sha256);
        return true;
      });
      if (gone) removed++;
    }
  }
  return removed;
}

/** Removes what dead uploads left (temp files, orphan blob files) at start and then periodically. */
export async function startSweeper(services: Services): Promise<() => void> {
  const { blobs, config, log } = services;
  const sweep = async (olderThanMs: number) => {
    try {
      const temps = await blobs.sweepTemp(olderThanMs);
      const orphans = await sweepOrphanBlobs(services);
      if (temps + orphans > 0) log.info({ temps, orphans }, 'removed what dead uploads left behind');
    } catch (err) {
      log.error({ err }, 'sweep failed');
    }
  };
  await sweep(config.staleTempMs);
  const timer = setInterval(() => void sweep(config.staleTempMs), config.sweepIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

