import type pg from 'pg';
import type { Db } from '../db/client.ts';
import { Prisma } from '../db/generated/client.ts';
import { namedQuery } from '../ledger/named-query.ts';
import { quotaDay, quotaResetsAt } from './quota-day.ts';
import { inBacklog } from '../ledger/backlog.ts';

/**
 * Prisma's interactive-transaction defaults (2 s to get a connection, 5 s to finish) are too tight for a ledger
 * every Google request passes through: on a loaded machine (or with the event loop stalled a few seconds) they
 * expired, and the job failed outright, its delivery idle until the next reconcile. The work inside is a few
 * milliseconds; the lock queue and the pool are what can be slow.
 */
const LEDGER_TX = { maxWait: 30_000, timeout: 30_000 };

/** The day's advisory lock: reservations and exhaust() of one quota day take turns. */
const lockKey = (day: string) => `quota:${day}`;

export type Reservation = { granted: true } | { granted: false; reason: 'exhausted' | 'fair_share'; resetsAt: Date };

export interface QuotaStatus {
  usedToday: number;
  dailyLimit: number;
  resetsAt: string;
  perAccount: Map<string, number>;
}

/**
 * The project's daily request budget, kept in Postgres so every worker on every machine shares one count and a
 * Redis wipe cannot reset it. Fair share: each account with work waiting is guaranteed limit/N of the day;
 * beyond its share an account may take only what no other waiting account is still guaranteed.
 */
export class QuotaLedger {
  constructor(
    private readonly db: Db,
    /** The pool under `db`: every Google request reserves through it (see namedQuery). */
    private readonly pool: pg.Pool,
    readonly dailyLimit: number,
    private readonly clock: () => Date,
  ) {}

  /**
   * One round trip (photo_relay_reserve_quota, migration 20261201000000_quota_reserve): the day's lock, the rules and
   * the count in one statement, so the lock is held for microseconds, not for six round trips of a transaction.
   */
  async reserve(accountId: string, requests = 1): Promise<Reservation> {
    const now = this.clock();
    const day = quotaDay(now);
    const [row] = await namedQuery<{ verdict: 'granted' | 'exhausted' | 'fair_share' }>(this.pool, 'quota-reserve', Prisma.sql`
      SELECT photo_relay_reserve_quota(${lockKey(day)}, ${day}::date, ${accountId}::uuid, ${requests}::int, ${this.dailyLimit}::int,
        ARRAY(SELECT a.id FROM accounts a WHERE a.forwarding = 'active' AND a.google_status = 'linked'
          AND EXISTS (SELECT 1 FROM deliveries d WHERE d.account_id = a.id AND ${inBacklog('d')}))) AS verdict`);
    if (row?.verdict === 'granted') return { granted: true };
    return { granted: false, reason: row?.verdict === 'exhausted' ? 'exhausted' : 'fair_share', resetsAt: quotaResetsAt(now) };
  }

  /**
   * Google answered 429 "All requests per day": its count for the project is at the limit, whatever ours says
   * (other clients of the project, or requests it counted that we never saw answered). Believe it: record today
   * as spent, so every worker stops asking until the reset instead of knocking every few minutes all night.
   * The remainder is booked to the account that was refused.
   */
  async exhaust(accountId: string): Promise<void> {
    const day = quotaDay(this.clock());
    await this.db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${lockKey(day)}, 0))`;
      const [row] = await tx.$queryRaw<{ total: number }[]>`
        SELECT coalesce(sum(used), 0)::int AS total FROM google_quota_usage WHERE day = ${day}::date`;
      const missing = this.dailyLimit - (row?.total ?? 0);
      if (missing <= 0) return;
      await tx.$executeRaw`
        INSERT INTO google_quota_usage (day, account_id, used) VALUES (${day}::date, ${accountId}::uuid, ${missing})
        ON CONFLICT (day, account_id) DO UPDATE SET used = google_quota_usage.used + ${missing}`;
    }, LEDGER_TX);
  }

  status(): Promise<QuotaStatus> {
    return quotaStatus(this.db, this.dailyLimit, this.clock());
  }

}

/** Today's use of the budget, for status pages and gauges (reads only). */
export async function quotaStatus(db: Db, dailyLimit: number, now: Date): Promise<QuotaStatus> {
  const usage = await db.googleQuotaUsage.findMany({ where: { day: new Date(`${quotaDay(now)}T00:00:00Z`) } });
  return {
    usedToday: usage.reduce((sum, u) => sum + u.used, 0),
    dailyLimit,
    resetsAt: quotaResetsAt(now).toISOString(),
    perAccount: new Map(usage.map((u) => [u.accountId, u.used])),
  };
}
