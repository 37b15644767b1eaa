import type { Db } from '../db/client.ts';
import { quotaDay, quotaResetsAt } from './quota-day.ts';
import { inBacklog } from '../ledger/backlog.ts';

/**
 * Prisma's interactive-transaction defaults (2 s to get a connection, 5 s to finish) are too tight for a ledger
 * every Google request passes through: on a loaded machine (or with the event loop stalled a few seconds) they
 * expired, and the job failed outright, its delivery idle until the next reconcile. The work inside is a few
 * milliseconds; the lock queue and the pool are what can be slow.
 */
const LEDGER_TX = { maxWait: 30_000, timeout: 30_000 };

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
    readonly dailyLimit: number,
    private readonly clock: () => Date,
  ) {}

  async reserve(accountId: string, requests = 1): Promise<Reservation> {
    const now = this.clock();
    const day = quotaDay(now);
    const resetsAt = quotaResetsAt(now);
    return this.db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${'quota:' + day}, 0))`;
      const usage = await tx.$queryRaw<{ account_id: string; used: number }[]>`
        SELECT account_id, used FROM google_quota_usage WHERE day = ${day}::date`;
      const used = new Map(usage.map((u) => [u.account_id, u.used]));
      const total = usage.reduce((sum, u) => sum + u.used, 0);
      if (total + requests > this.dailyLimit) return { granted: false, reason: 'exhausted', resetsAt } as const;

      const waiting = await tx.$queryRaw<{ account_id: string }[]>`
        SELECT DISTINCT d.account_id FROM deliveries d JOIN accounts a ON a.id = d.account_id
        WHERE ${inBacklog('d')} AND a.forwarding = 'active' AND a.google_status = 'linked'`;
      const contenders = new Set(waiting.map((w) => w.account_id)).add(accountId);
      const share = Math.floor(this.dailyLimit / contenders.size);
      const mine = used.get(accountId) ?? 0;
      if (mine + requests > share) {
        let guaranteedToOthers = 0;
        for (const other of contenders) if (other !== accountId) guaranteedToOthers += Math.max(0, share - (used.get(other) ?? 0));
        if (total + requests + guaranteedToOthers > this.dailyLimit) return { granted: false, reason: 'fair_share', resetsAt } as const;
      }
      await tx.$executeRaw`
        INSERT INTO google_quota_usage (day, account_id, used) VALUES (${day}::date, ${accountId}::uuid, ${requests})
        ON CONFLICT (day, account_id) DO UPDATE SET used = google_quota_usage.used + ${requests}`;
      return { granted: true } as const;
    }, LEDGER_TX);
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
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${'quota:' + day}, 0))`;
      const [row] = await tx.$queryRaw<{ total: number }[]>`
        SELECT coalesce(sum(used), 0)::int AS total FROM google_quota_usage WHERE day = ${day}::date`;
      const missing = this.dailyLimit - (row?.total ?? 0);
      if (missing <= 0) return;
      await tx.$executeRaw`
        INSERT INTO google_quota_usage (day, account_id, used) VALUES (${day}::date, ${accountId}::uuid, ${missing})
        ON CONFLICT (day, account_id) DO UPDATE SET used = google_quota_usage.used + ${missing}`;
    }, LEDGER_TX);
  }

  async status(): Promise<QuotaStatus> {
    const now = this.clock();
    const usage = await this.db.googleQuotaUsage.findMany({ where: { day: new Date(`${quotaDay(now)}T00:00:00Z`) } });
    return {
      usedToday: usage.reduce((sum, u) => sum + u.used, 0),
      dailyLimit: this.dailyLimit,
      resetsAt: quotaResetsAt(now).toISOString(),
      perAccount: new Map(usage.map((u) => [u.accountId, u.used])),
    };
  }
}
