import { Type } from '@sinclair/typebox';
import type { Services } from '../services.ts';
import { quotaStatus } from '../forwarding/quota.ts';
import { Nullable, Timestamp } from '../http/schemas.ts';
import { tokenHealth } from '../google/token-health.ts';
import { inBacklog } from '../ledger/backlog.ts';

export const StatusSchema = Type.Object({
  demoMode: Type.Boolean(),
  queues: Type.Record(Type.String(), Type.Record(Type.String(), Type.Integer())),
  quota: Type.Object({ usedToday: Type.Integer(), dailyLimit: Type.Integer(), resetsAt: Timestamp }),
  accounts: Type.Array(
    Type.Object({
      id: Type.String(),
      name: Type.String(),
      backlog: Type.Integer(),
      backlogBytes: Type.Integer(),
      failed: Type.Integer(),
      quotaUsedToday: Type.Integer(),
      etaSeconds: Nullable(Type.Integer()),
      held: Nullable(Type.String()),
      tokenHealth: Type.String(),
      warning: Nullable(Type.String()),
    }),
  ),
  storage: Type.Object({ blobs: Type.Integer(), bytes: Type.Integer(), freeBytes: Type.Integer() }),
});

// Google requests one forwarded item costs: its upload, plus its share of a 50-item batchCreate.
const REQUESTS_PER_ITEM = 1 + 1 / 50;
const DAY_S = 86_400;

/**
 * What is waiting, why, and when it should be done. The ETA uses the pace of the last hour (or a conservative
 * guess with no history) and, when the backlog needs more requests than today's fair share, the quota days.
 */
export async function relayStatus(services: Services) {
  const { db, config } = services;
  const now = services.clock();
  const quota = await quotaStatus(db, config.google.dailyRequestLimit, now);
  const [queues, accounts, perAccount, pace, storage, freeBytes] = await Promise.all([
    services.queues.depths().catch(() => ({})),
    db.account.findMany({
      orderBy: { id: 'asc' },
      select: { id: true, name: true, forwarding: true, googleStatus: true, googleLinkedAt: true, googleError: true },
    }),
    db.$queryRaw<{ account_id: string; backlog: bigint; bytes: bigint; failed: bigint }[]>`
      SELECT d.account_id, count(*) FILTER (WHERE ${inBacklog('d')}) AS backlog,
        coalesce(sum(b.size) FILTER (WHERE ${inBacklog('d')}), 0) AS bytes,
        count(*) FILTER (WHERE d.state = 'failed') AS failed
      FROM deliveries d JOIN blobs b ON b.sha256 = d.blob_sha256 GROUP BY 1`,
    db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM deliveries WHERE backed_up_at > ${new Date(now.getTime() - 3600_000)}`,
    db.$queryRaw<{ blobs: bigint; bytes: bigint | null }[]>`SELECT count(*) AS blobs, sum(size) AS bytes FROM blobs WHERE stored`,
    services.blobs.freeBytes(),
  ]);
  const byAccount = new Map(perAccount.map((r) => [r.account_id, r]));
  const waiting = accounts.filter((a) => Number(byAccount.get(a.id)?.backlog ?? 0) > 0);
  const itemsPerSecond = Math.max(Number(pace[0]?.n ?? 0) / 3600, 0.5) / Math.max(1, waiting.length);
  const share = Math.floor(quota.dailyLimit / Math.max(1, waiting.length));
  const untilReset = (Date.parse(quota.resetsAt) - now.getTime()) / 1000;

  return {
    demoMode: config.demoMode,
    queues,
    quota: { usedToday: quota.usedToday, dailyLimit: quota.dailyLimit, resetsAt: quota.resetsAt },
    accounts: accounts.map((a) => {
      const row = byAccount.get(a.id);
      const backlog = Number(row?.backlog ?? 0);
      const held = a.forwarding === 'paused' ? 'forwarding paused' : a.googleStatus !== 'linked' ? 'Google link missing or broken' : null;
      const usedToday = quota.perAccount.get(a.id) ?? 0;
      let etaSeconds: number | null = null;
      if (!held) {
        const needed = backlog * REQUESTS_PER_ITEM;
        const leftToday = Math.max(0, Math.min(share - usedToday, quota.dailyLimit - quota.usedToday));
        etaSeconds = Math.ceil(backlog / itemsPerSecond);
        if (needed > leftToday) {
          const moreDays = Math.ceil((needed - leftToday) / Math.max(1, share)) - 1;
          etaSeconds = Math.ceil(untilReset + moreDays * DAY_S + Math.min(etaSeconds, (needed - leftToday) / REQUESTS_PER_ITEM / itemsPerSecond));
        }
      }
      const health = tokenHealth(config, a, now);
      return {
        id: a.id,
        name: a.name,
        tokenHealth: health.health,
        warning: health.warning ?? null,
        backlog,
        backlogBytes: Number(row?.bytes ?? 0),
        failed: Number(row?.failed ?? 0),
        quotaUsedToday: usedToday,
        etaSeconds,
        held,
      };
    }),
    storage: { blobs: Number(storage[0]?.blobs ?? 0), bytes: Number(storage[0]?.bytes ?? 0), freeBytes },
  };
}
