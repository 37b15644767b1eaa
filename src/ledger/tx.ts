import type { Db } from '../db/client.ts';

/** A Prisma interactive transaction's client. */
export type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/** The ledger's clock: every timestamp it writes comes from here, so tests that move time move the ledger too. */
export type Clock = () => Date;

/**
 * Registrations rename and fsync files inside their transaction: give slow disks room before Prisma aborts it.
 * Named so every long transaction states its bounds instead of inheriting Prisma's 5 s default.
 */
export const CONTENT_TX = { timeout: 60_000, maxWait: 30_000 } as const;
