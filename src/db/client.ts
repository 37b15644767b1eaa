import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/client.ts';

export type Db = PrismaClient;

export interface Database {
  db: Db;
  /**
   * The pool Prisma's adapter runs on, for the ledger's hot path (src/ledger/registration.ts): a registration there is
   * three round trips of plain SQL instead of a Prisma interactive transaction of nine statements. One pool, so both
   * count against the same connection limit.
   */
  pool: pg.Pool;
}

// Waiting longer than this for a pooled connection (all busy, or a server that does not answer the connect) fails the
// request as an outage (503 not_ready) instead of holding it: the bound a Prisma interactive transaction had (maxWait).
const CONNECT_TIMEOUT_MS = 30_000;

export function openDatabase(databaseUrl: string, max = 10, connectTimeoutMs = CONNECT_TIMEOUT_MS): Database {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: connectTimeoutMs });
  // A pooled connection that dies while idle emits 'error' on the pool; without a listener that would end the process.
  // The adapter adds its own once Prisma connects; this one covers the moments before. The next query reports it.
  pool.on('error', () => {});
  const db = new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) });
  return { db, pool };
}

export function createDb(databaseUrl: string, max = 10): Db {
  return openDatabase(databaseUrl, max).db;
}
