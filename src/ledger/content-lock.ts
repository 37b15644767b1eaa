import type pg from 'pg';
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

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * The same lock and transaction on a plain pg connection, for the upload hot path (src/ledger/registration.ts): BEGIN,
 * the transaction's time limits and the lock go in one round trip (a simple query, so the hash is written into it; it
 * is checked to be 64 hex digits first), then `fn`, then COMMIT. A Prisma interactive transaction spends a round trip
 * on BEGIN and another on the lock, and far more CPU per statement.
 *
 * The limits stand in for CONTENT_TX's `timeout`: a statement (the lock wait included) or a pause between statements
 * (a stuck rename or fsync) longer than that ends the transaction on the server, so the lock is never held for good.
 */
export async function withContentLockPg<T>(pool: pg.Pool, sha256: string, fn: (client: pg.ClientBase) => Promise<T>, options = CONTENT_TX): Promise<T> {
  if (!SHA256.test(sha256)) throw new Error(`not a content hash: ${JSON.stringify(sha256)}`);
  const client = await pool.connect();
  // A connection that dies while checked out emits 'error' (unhandled, it would end the process); the query in
  // flight, or the next one, reports the failure.
  const ignore = () => {};
  client.on('error', ignore);
  let broken: Error | undefined;
  try {
    await client.query(
      `BEGIN; SET LOCAL statement_timeout = ${options.timeout}; SET LOCAL idle_in_transaction_session_timeout = ${options.timeout}; ` +
        `SELECT pg_advisory_xact_lock(hashtextextended('blob:${sha256}', 0))`,
    );
    const result = await fn(client);
    const commit = await client.query('COMMIT');
    // Postgres answers COMMIT of a transaction that failed with ROLLBACK, without an error.
    if (commit.command !== 'COMMIT') throw new Error(`the transaction was rolled back (${commit.command})`);
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackErr: Error) => (broken = rollbackErr));
    throw err;
  } finally {
    client.off('error', ignore);
    // A connection that could not even roll back is closed, not handed to the next caller.
    client.release(broken);
  }
}
