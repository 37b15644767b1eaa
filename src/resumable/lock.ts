import pg from 'pg';
import { ApiError } from '../http/errors.ts';
import type { Tx } from '../ledger/tx.ts';

const key = (id: string) => `resumable:${id}`;

/**
 * One writer per upload, across every process of the relay: a Postgres advisory lock on the upload's id. An append
 * holds it for as long as its body streams, which may be minutes, so it lives on a connection of its own (a small
 * pool apart from Prisma's, whose connections must stay free for short queries). A process that dies drops its
 * connections, and Postgres releases the lock at once: an upload is never left locked by a crashed relay.
 */
export class UploadLocks {
  private readonly pool: pg.Pool;

  constructor(databaseUrl: string, max = 32) {
    this.pool = new pg.Pool({
      connectionString: databaseUrl,
      max,
      idleTimeoutMillis: 10_000,
      connectionTimeoutMillis: 10_000,
      allowExitOnIdle: true,
    });
    // An idle connection the server closed: the pool replaces it; nothing held a lock on it.
    this.pool.on('error', () => {});
  }

  /** The upload's lock, or null when another request (here or in another process) holds it. */
  async tryAcquire(id: string): Promise<UploadLock | null> {
    return (await this.tryAcquireThen(id, null))?.lock ?? null;
  }

  /**
   * The upload's lock and, once it is held, the rows `then` selects, in one round trip (a simple query: the caller
   * writes its values into `then`, escaped with pg.escapeLiteral). The lock and `then` are separate transactions, so
   * `then` reads with a snapshot taken after the lock was granted, whatever the default isolation level: it sees
   * everything the previous holder committed before releasing it (UploadLock.releaseAfter). Null when the lock is
   * held elsewhere.
   */
  async tryAcquireThen<R>(id: string, then: string | null): Promise<{ lock: UploadLock; rows: R[] } | null> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch {
      // Every lock connection busy (that many appends at once), or Postgres away: come back later, not a 500.
      throw new ApiError('not_ready', 'The relay is busy with other uploads: try again shortly');
    }
    try {
      const lockSql = `SELECT pg_try_advisory_lock(hashtextextended(${pg.escapeLiteral(key(id))}, 0)) AS ok`;
      const results = (await client.query(then === null ? lockSql : `BEGIN; ${lockSql}; COMMIT; ${then}`)) as unknown as
        pg.QueryResult | pg.QueryResult[];
      const [locked, read] = Array.isArray(results) ? [results[1]!, results[3]!] : [results, undefined];
      if (locked.rows[0]?.ok) return { lock: new UploadLock(client, id), rows: (read?.rows ?? []) as R[] };
      client.release();
      return null;
    } catch (err) {
      client.release(true);
      throw err;
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

export class UploadLock {
  private released = false;
  constructor(
    private readonly client: pg.PoolClient,
    private readonly id: string,
  ) {}

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [key(this.id)]);
      this.client.release();
    } catch {
      // Closing the connection releases the lock just as well.
      this.client.release(true);
    }
  }

  /**
   * Commit `write` (a statement with its values written in, escaped with pg.escapeLiteral), then release the lock: one
   * round trip. The commit comes first, so whoever takes the lock next reads what `write` wrote (a statement that
   * unlocked as it wrote would let the next holder in before its commit). Returns the rows `write` changed. On a
   * failure the connection is closed, which releases the lock; whether `write` committed is then unknown.
   */
  async releaseAfter(write: string): Promise<number> {
    if (this.released) throw new Error('the upload lock was already released');
    this.released = true;
    try {
      const results = (await this.client.query(
        `BEGIN; ${write}; COMMIT; SELECT pg_advisory_unlock(hashtextextended(${pg.escapeLiteral(key(this.id))}, 0))`,
      )) as unknown as pg.QueryResult[];
      // Postgres answers COMMIT of a transaction that failed with ROLLBACK, without an error.
      if (results[2]?.command !== 'COMMIT') throw new Error(`the upload's write was rolled back (${results[2]?.command})`);
      this.client.release();
      return results[1]!.rowCount ?? 0;
    } catch (err) {
      this.client.release(true);
      throw err;
    }
  }
}

/** The same lock for a short transaction (termination, the expiry sweep): false when an append holds it. */
export async function tryLockInTx(tx: Tx, id: string): Promise<boolean> {
  const rows = await tx.$queryRaw<{ ok: boolean }[]>`SELECT pg_try_advisory_xact_lock(hashtextextended(${key(id)}, 0)) AS ok`;
  return rows[0]?.ok === true;
}
