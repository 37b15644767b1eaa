import type { Db } from '../db/client.ts';
import { withContentLock } from './content-lock.ts';
import type { Clock } from './tx.ts';

/**
 * Blob rows: content held once per household. `stored` says the bytes are in the spool. Every change of `stored`
 * happens under the content lock (the callers here take it; a registration takes it in src/ledger/registration.ts), together with
 * the file operation it describes, so the row and the file never disagree for longer than one transaction.
 */
export class BlobLedger {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /**
   * Declare a blob's bytes gone (missing or damaged on a verified spool). `stillGone` re-checks under the lock, so an
   * upload that restored the file a moment ago is not undone; `removeDamaged` deletes what is there.
   */
  async markLost(sha256: string, stillGone: () => Promise<boolean>, removeDamaged: () => Promise<void>): Promise<boolean> {
    return withContentLock(this.db, sha256, async (tx) => {
      if (!(await stillGone())) return false;
      await removeDamaged();
      await tx.$executeRaw`UPDATE blobs SET stored = false WHERE sha256 = ${sha256} AND stored`;
      return true;
    });
  }

  /**
   * Retention: a blob every delivery of which is backed up (before `cutoff`), or that no delivery needs, loses its bytes.
   * The condition is checked again under the lock, and the file goes only if the row changed.
   */
  async purge(sha256: string, cutoff: Date, removeFile: () => Promise<void>): Promise<boolean> {
    return withContentLock(this.db, sha256, async (tx) => {
      const updated = await tx.$executeRaw`
        UPDATE blobs SET stored = false, purged_at = ${this.clock()} WHERE sha256 = ${sha256} AND stored AND created_at < ${cutoff}
          AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.blob_sha256 = ${sha256} AND (d.state <> 'backed_up' OR d.backed_up_at > ${cutoff}))`;
      if (updated === 1) await removeFile();
      return updated === 1;
    });
  }

  /** Blobs whose bytes retention may remove now (a page of them). */
  async purgeable(cutoff: Date, limit: number): Promise<string[]> {
    const rows = await this.db.$queryRaw<{ sha256: string }[]>`
      SELECT b.sha256 FROM blobs b
      WHERE b.stored AND b.created_at < ${cutoff}
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.blob_sha256 = b.sha256 AND (d.state <> 'backed_up' OR d.backed_up_at > ${cutoff}))
      LIMIT ${limit}`;
    return rows.map((r) => r.sha256);
  }

  /** Of these file names, how the ledger knows each: absent from the map means no row names it. */
  async known(hashes: string[]): Promise<Map<string, { stored: boolean }>> {
    const rows = await this.db.blob.findMany({ where: { sha256: { in: hashes } }, select: { sha256: true, stored: true } });
    return new Map(rows.map((r) => [r.sha256, { stored: r.stored }]));
  }

  /**
   * A file found in the spool that the ledger has as not stored (marked lost by a worker that could not see it, or
   * purged and sent again by a path that failed after its rename): if `verified` (its bytes hash to its name), it is
   * held again. Returns whether it was re-adopted.
   */
  async readopt(sha256: string, verified: () => Promise<boolean>): Promise<boolean> {
    return withContentLock(this.db, sha256, async (tx) => {
      const row = await tx.blob.findUnique({ where: { sha256 }, select: { stored: true } });
      if (!row || row.stored || !(await verified())) return false;
      await tx.$executeRaw`UPDATE blobs SET stored = true, purged_at = NULL WHERE sha256 = ${sha256}`;
      return true;
    });
  }

  /**
   * A blob file no row names (its registration failed after the rename): remove it, under the lock, unless a row
   * appeared meanwhile. Never touches a file any row names.
   */
  async removeIfUnclaimed(sha256: string, removeFile: () => Promise<void>): Promise<boolean> {
    return withContentLock(this.db, sha256, async (tx) => {
      const row = await tx.blob.findUnique({ where: { sha256 }, select: { sha256: true } });
      if (row) return false;
      await removeFile();
      return true;
    });
  }

  async countStored(): Promise<number> {
    return this.db.blob.count({ where: { stored: true } });
  }
}
