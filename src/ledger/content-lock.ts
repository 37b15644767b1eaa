import type { Db } from '../db/client.ts';
import { CONTENT_TX, type Tx } from './tx.ts';

/**
 * The one lock that serialises everything touching one content hash, across processes and machines: uploads of the
 * same bytes, retention deleting them, the sweeper, the worker declaring them lost. A blob's `stored` flag and its
 * file change only under it, so "row says stored" and "file exists" never disagree for longer than a transaction.
 */
export async function lockContent(tx: Tx, sha256: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${'blob:' + sha256}, 0))`;
}

/** Run `fn` in a transaction holding the content lock of `sha256`. */
export function withContentLock<T>(db: Db, sha256: string, fn: (tx: Tx) => Promise<T>, options = CONTENT_TX): Promise<T> {
  return db.$transaction(async (tx) => {
    await lockContent(tx, sha256);
    return fn(tx);
  }, options);
}
