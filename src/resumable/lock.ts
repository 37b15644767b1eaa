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
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch {
      // Every lock connection busy (that many appends at once), or Postgres away: come back later, not a 500.
      throw new ApiError('not_ready', 'The relay is busy with other uploads: try again shortly');
    }
    try {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [key(id)]);
      if (rows[0]?.ok) return new UploadLock(client, id);
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
}

/** The same lock for a short transaction (termination, the expiry sweep): false when an append holds it. */
export async function tryLockInTx(tx: Tx, id: string): Promise<boolean> {
  const rows = await tx.$queryRaw<{ ok: boolean }[]>`SELECT pg_try_advisory_xact_lock(hashtextextended(${key(id)}, 0)) AS ok`;
  return rows[0]?.ok === true;
}
