import type { Ledger } from '../ledger/ledger.ts';
import type { DeliveryRef } from '../ledger/scheduler.ts';
import type { ForwardQueues } from './queue.ts';

/** Deliveries read per page: memory stays flat whatever the backlog (a trip's 50,000 photos included). */
export const RECONCILE_PAGE = 1000;

export interface ReconcileResult {
  uploads: number;
  creates: number;
  expiredTokens: number;
  pages: number;
}

export interface ReconcileDeps {
  ledger: Ledger;
  queues: ForwardQueues;
}

/**
 * Postgres is the ledger, Redis only schedules: give every non-terminal delivery of a forwardable account a job
 * (adding is idempotent: a job that exists keeps its id). After Redis lost everything, this alone restarts
 * forwarding; the rows' upload tokens and states make sure nothing is sent or created twice. The ledger is read a
 * page at a time, by key, so a pass costs the same memory for ten deliveries or a million.
 */
export async function reconcile(
  { ledger, queues }: ReconcileDeps,
  options: { tokenMarginMs: number; accountId?: string; pageSize?: number },
): Promise<ReconcileResult> {
  const pageSize = options.pageSize ?? RECONCILE_PAGE;
  // Upload tokens about to expire are worth nothing: send those bytes again.
  const expiredTokens = await ledger.deliveries.expireTokens(new Date(ledger.clock().getTime() + options.tokenMarginMs), options.accountId);

  // Ids are time-ordered (UUIDv7), so key order is each account's backlog order and the rank is a running count.
  const ranks = new Map<string, number>();
  const createAccounts = new Set<string>();
  let uploads = 0;
  let pages = 0;
  let after: string | null = null;
  for (;;) {
    const page = await ledger.deliveries.schedulable(after, pageSize, options.accountId);
    if (page.length === 0) break;
    pages++;
    const refs: DeliveryRef[] = [];
    for (const row of page) {
      const rank = (ranks.get(row.accountId) ?? 0) + 1;
      ranks.set(row.accountId, rank);
      if (row.hasToken) createAccounts.add(row.accountId);
      else refs.push({ id: row.id, accountId: row.accountId, rank });
    }
    await queues.enqueueUploads(refs);
    uploads += refs.length;
    after = page[page.length - 1]!.id;
    if (page.length < pageSize) break;
  }
  for (const accountId of createAccounts) await queues.enqueueCreate(accountId);
  return { uploads, creates: createAccounts.size, expiredTokens, pages };
}
