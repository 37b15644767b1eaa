import { readdir } from 'node:fs/promises';
import type { Services } from '../services.ts';
import { ChunkStore, UPLOAD_FOLDER_TTL_MS } from '../nextcloud/chunk-store.ts';
import { sweepResumableUploads } from '../resumable/sweep.ts';

export interface OrphanSweep {
  /** Blob files no row names, removed (left when a registration failed after its rename). */
  removed: number;
  /** Files a row had as not stored, whose bytes hash to their name: held again. */
  readopted: number;
}

/**
 * Reconcile the blob files with the ledger. A file no row names is an orphan and goes; a file a row names is never
 * deleted here: if the row says "not stored" (a worker that could not see the spool, a registration that failed after
 * its rename), a file whose bytes still hash to its name is adopted again. Runs only on the spool verified at start:
 * on another disk, nothing here could be concluded.
 */
export async function sweepOrphanBlobs(services: Services): Promise<OrphanSweep> {
  const { blobs, ledger } = services;
  const result: OrphanSweep = { removed: 0, readopted: 0 };
  if (!(await blobs.identityHolds())) return result;
  const entries = await readdir(blobs.blobsDir, { recursive: true, withFileTypes: true }).catch(() => []);
  const names = entries.filter((e) => e.isFile() && /^[0-9a-f]{64}$/.test(e.name)).map((e) => e.name);
  for (let i = 0; i < names.length; i += 1000) {
    const chunk = names.slice(i, i + 1000);
    const known = await ledger.blobs.known(chunk);
    for (const sha256 of chunk) {
      const row = known.get(sha256);
      if (row?.stored) continue;
      if (row) {
        if (await ledger.blobs.readopt(sha256, () => blobs.verify(sha256).catch(() => false))) result.readopted++;
      } else if (await ledger.blobs.removeIfUnclaimed(sha256, () => blobs.remove(sha256))) {
        result.removed++;
      }
    }
  }
  return result;
}

/** Removes what dead uploads left (temp files, orphan blob files) at start and then periodically. */
export async function startSweeper(services: Services): Promise<() => void> {
  const { blobs, config, log } = services;
  const sweep = async (olderThanMs: number) => {
    try {
      const temps = await blobs.sweepTemp(olderThanMs);
      const { removed: orphans, readopted } = await sweepOrphanBlobs(services);
      // Nextcloud chunked uploads the app abandoned (untouched for a day), and expired resumable uploads.
      const uploadFolders = await new ChunkStore(config.spoolDir).sweep(UPLOAD_FOLDER_TTL_MS);
      const resumable = await sweepResumableUploads(services);
      if (temps + orphans + uploadFolders + resumable > 0) log.info({ temps, orphans, uploadFolders, resumable }, 'removed what dead uploads left behind');
      if (readopted > 0) log.warn({ readopted }, 'blob files the ledger had as missing were found intact and are held again');
    } catch (err) {
      log.error({ err }, 'sweep failed');
    }
  };
  await sweep(config.staleTempMs);
  const timer = setInterval(() => void sweep(config.staleTempMs), config.sweepIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
