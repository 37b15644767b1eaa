import type { Services } from '../services.ts';
import type { DeliveryRef } from './queue.ts';

const CHUNK = 1000;

export interface ReconcileResult {
  uploads: number;
  creates: number;
  expiredTokens: number;
}

/**
 * Postgres is the ledger, Redis only schedules: give every non-terminal delivery of a forwardable account a job
 * (adding is idempotent: a job that exists keeps its id). After Redis lost everything, this alone restarts
 * forwarding; the rows' upload tokens and states make sure nothing is sent or created twice.
 */
export async function reconcile(services: Services, options: { tokenMarginMs: number; accountId?: string }): Promise<ReconcileResult> {
  const { db, queues } = services;
  const now = services.clock();
  const fresh = new Date(now.getTime() + options.tokenMarginMs);
  const only = options.accountId ?? null;

  // Upload tokens about to expire are worth nothing: send those bytes again.
  const expiredTokens = await db.$executeRaw`
    UPDATE deliveries SET state = 'pending', upload_token = NULL, upload_token_expires_at = NULL, updated_at = ${now}
    WHERE state = 'uploading' AND upload_token IS NOT NULL AND upload_token_expires_at <= ${fresh}
      AND (${only}::uuid IS NULL OR account_id = ${only}::uuid)`;

  const needUpload = await db.$queryRaw<{ id: string; account_id: string; rank: bigint }[]>`
    SELECT d.id, d.account_id, row_number() OVER (PARTITION BY d.account_id ORDER BY d.created_at) AS rank
    FROM deliveries d JOIN accounts a ON a.id = d.account_id
    WHERE d.state IN ('pending', 'uploading') AND d.upload_token IS NULL
      AND a.forwarding = 'active' AND a.google_status = 'linked'
      AND (${only}::uuid IS NULL OR d.account_id = ${only}::uuid)`;
  for (let i = 0; i < needUpload.length; i += CHUNK) {
    const refs: DeliveryRef[] = needUpload.slice(i, i + CHUNK).map((r) => ({ id: r.id, accountId: r.account_id, rank: Number(r.rank) }));
    await queues.enqueueUploads(refs);
  }

  const needCreate = await db.$queryRaw<{ account_id: string }[]>`
    SELECT DISTINCT d.account_id FROM deliveries d JOIN accounts a ON a.id = d.account_id
    WHERE d.state = 'uploading' AND d.upload_token IS NOT NULL
      AND a.forwarding = 'active' AND a.google_status = 'linked'
      AND (${only}::uuid IS NULL OR d.account_id = ${only}::uuid)`;
  for (const { account_id } of needCreate) await queues.enqueueCreate(account_id);

  return { uploads: needUpload.length, creates: needCreate.length, expiredTokens };
}
