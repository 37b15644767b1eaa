import { DelayedError, type Job } from 'bullmq';
import { GoogleError, rateLimitWaitMs } from '../google/outcomes.ts';
import { markNeedsReauth } from '../google/account-tokens.ts';
import type { NewItem } from '../google/photos-client.ts';
import { accountGate, throttleAccount } from './account-gate.ts';
import { backoffMs, jittered } from './backoff.ts';
import { sleepJob, type ForwardingContext } from './context.ts';
import type { CreateJob } from './queue.ts';
import type { DeliveryRef } from '../ledger/scheduler.ts';
import type { Tx } from '../ledger/tx.ts';
import { UPLOAD_TOKEN_LIFETIME_MS } from './token-margin.ts';
import { BATCH_CREATE_MAX } from '../ledger/backlog.ts';
import type { ReadyToken } from '../ledger/deliveries.ts';
const BUSY_RETRY_MS = 2000;

type Round =
  | { kind: 'idle'; nextAttemptAt: Date | null }
  | { kind: 'busy' }
  | { kind: 'gather'; waitMs: number }
  | { kind: 'progress'; reupload: DeliveryRef[] }
  | { kind: 'stop'; error: GoogleError; reupload: DeliveryRef[] };

/**
 * Step two, per account: turn held upload tokens into media items, up to 50 per batchCreate, one call at a time.
 * The account's advisory lock is held across the call, so even two workers on two machines (say, one stalled and
 * one that took its job over) never overlap for one account.
 */
export async function runCreate(ctx: ForwardingContext, job: Job<CreateJob>, token?: string): Promise<void> {
  const { accountId } = job.data;
  // Items that sank a whole batch are retried alone, so one bad item cannot fail 49 good ones.
  const solo = new Set<string>();
  for (;;) {
    const gate = await accountGate(ctx.services, accountId);
    if (!gate.open) {
      if (gate.waitMs) await sleepJob(job, token, gate.waitMs);
      return;
    }
    const round = await createRound(ctx, accountId, solo);
    if ('reupload' in round && round.reupload.length) await ctx.services.scheduler.uploads(round.reupload);
    if (round.kind === 'progress') continue;
    if (round.kind === 'busy') return sleepJob(job, token, BUSY_RETRY_MS);
    if (round.kind === 'gather') return gather(ctx, job, token, accountId, round.waitMs);
    if (round.kind === 'idle') {
      // Items waiting out a backoff: come back for them when the first is due.
      if (round.nextAttemptAt) return sleepJob(job, token, round.nextAttemptAt.getTime() - ctx.now().getTime());
      return;
    }
    return handleStop(ctx, job, token, accountId, round.error);
  }
}

/**
 * Wait for a whole batch or the last upload, whichever comes first. The upload that brings either wakes this job
 * (upload-step.ts), but a wake that finds the job still running (deciding to gather) cannot reach it: so, once
 * asleep, the job looks once more itself. An upload whose wake was lost committed its token before it, so this look
 * sees it; one committing later finds the job asleep, and its wake promotes it.
 */
async function gather(ctx: ForwardingContext, job: Job<CreateJob>, token: string | undefined, accountId: string, waitMs: number): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(1, Math.round(waitMs)), token);
  const freshUntil = new Date(ctx.now().getTime() + ctx.options.tokenMarginMs);
  if (await ctx.services.ledger.deliveries.createDue(accountId, freshUntil)) {
    await job.promote().catch(() => {
      // Already woken by an upload, or taken again: either way it runs.
    });
  }
  throw new DelayedError();
}

async function createRound(ctx: ForwardingContext, accountId: string, solo: Set<string>): Promise<Round> {
  const { db } = ctx.services;
  const now = ctx.now();
  const fresh = new Date(now.getTime() + ctx.options.tokenMarginMs);
  return db.$transaction(
    async (tx) => {
      const { deliveries } = ctx.services.ledger;
      if (!(await deliveries.lockCreates(tx, accountId))) return { kind: 'busy' } as const;
      // Counted before the tokens are read, each statement seeing what was committed when it began: an upload
      // finishing between the two is then still to come here, and its token may be read too (a short gather more).
      // Counted after, it was neither, and the batch went without it: a call more for one photo.
      const outstanding = await deliveries.uploadsStillToCome(tx, accountId, now);
      const rows = await deliveries.takeReadyTokens(tx, accountId, { freshUntil: fresh, now, first: [...solo] });
      if (rows.length === 0) return { kind: 'idle', nextAttemptAt: await deliveries.nextTokenRetryAt(tx, accountId, now) } as const;
      if (rows.length < BATCH_CREATE_MAX && solo.size === 0) {
        const waitMs = gatherWait(ctx, outstanding, rows, now);
        if (waitMs > 0) return { kind: 'gather', waitMs } as const;
      }
      const batch = solo.has(rows[0]!.id) ? rows.slice(0, 1) : rows.filter((r) => !solo.has(r.id));
      const items: NewItem[] = batch.map((r) => ({ uploadToken: r.upload_token, fileName: r.file_name ?? r.blob_sha256 }));
      const photos = ctx.photosFor(accountId);
      let outcomes;
      try {
        outcomes = await photos.batchCreate(items);
      } catch (err) {
        if (!(err instanceof GoogleError)) throw err;
        return failedBatch(ctx, tx, accountId, batch, solo, err);
      }
      const reupload: DeliveryRef[] = [];
      const made = outcomes.flatMap((outcome, i) => (outcome.kind === 'created' ? [{ id: batch[i]!.id, mediaItemId: outcome.mediaItemId }] : []));
      const moved = await deliveries.markBackedUp(tx, made);
      for (const m of made) {
        if (!moved.has(m.id)) ctx.services.log.warn({ deliveryId: m.id, mediaItemId: m.mediaItemId }, 'media item made for a delivery that had moved on');
      }
      for (const [i, outcome] of outcomes.entries()) {
        const row = batch[i]!;
        solo.delete(row.id);
        ctx.services.metrics.forwardOutcomes.inc({
          outcome: outcome.kind === 'created' ? 'backed_up' : outcome.error.outcome === 'permanent' ? 'failed' : outcome.error.outcome,
        });
        if (outcome.kind === 'created') continue;
        const { error } = outcome;
        if (error.outcome === 'permanent') {
          await deliveries.fail(row.id, error.message, tx);
        } else if (error.outcome === 'reupload') {
          await deliveries.returnForUpload(tx, [row.id], error.message);
          reupload.push({ id: row.id, accountId });
        } else {
          const retryAt = new Date(ctx.now().getTime() + backoffMs(row.attempts + 1));
          await deliveries.deferRetry([row.id], { reason: error.message, nextAttemptAt: retryAt, attempts: 1 }, tx);
        }
      }
      return { kind: 'progress', reupload } as const;
    },
    { timeout: 10 * 60_000, maxWait: 30_000 },
  );
}


/**
 * How long a partial batch should still wait for this account's uploads under way (0: send it now). Without
 * this, every upload that finishes a moment after the last would get its own batchCreate: 80 photos became
 * 40 calls, each counted against the daily quota and the per-user write limits. Bounded by createGatherMs from
 * the oldest held token, so an upload that is slow or stuck delays the others only that long. With nothing else
 * to upload there is nothing to wait for; and an upload that saves its token wakes this job as soon as a whole
 * batch is ready or it was the last (upload-step.ts), so the wait is a ceiling, not a delay.
 */
function gatherWait(ctx: ForwardingContext, outstanding: number, rows: ReadyToken[], now: Date): number {
  if (outstanding === 0) return 0;
  const oldestTokenAt = Math.min(...rows.map((r) => r.upload_token_expires_at.getTime() - UPLOAD_TOKEN_LIFETIME_MS));
  const left = oldestTokenAt + ctx.options.createGatherMs - now.getTime();
  return left > 0 ? Math.min(Math.max(ctx.options.createDelayMs, 10), left) : 0;
}

/** A whole batchCreate call was refused: decide for its items, and whether the job goes on. */
async function failedBatch(ctx: ForwardingContext, tx: Tx, accountId: string, batch: ReadyToken[], solo: Set<string>, err: GoogleError): Promise<Round> {
  const { deliveries } = ctx.services.ledger;
  const ids = batch.map((r) => r.id);
  if (err.outcome === 'reupload') {
    // Google does not say which token it disliked: send the bytes of the whole batch again.
    await deliveries.returnForUpload(tx, ids, err.message);
    return { kind: 'progress', reupload: batch.map((r) => ({ id: r.id, accountId })) };
  }
  if (err.outcome === 'permanent') {
    if (batch.length > 1) {
      for (const row of batch) solo.add(row.id);
      return { kind: 'progress', reupload: [] };
    }
    await deliveries.fail(batch[0]!.id, err.message, tx);
    return { kind: 'progress', reupload: [] };
  }
  if (err.outcome === 'transient') {
    const attempt = Math.max(...batch.map((r) => r.attempts)) + 1;
    const retryAt = new Date(ctx.now().getTime() + backoffMs(attempt));
    await deliveries.deferRetry(ids, { reason: err.message, nextAttemptAt: retryAt, attempts: 1 }, tx);
    return { kind: 'progress', reupload: [] };
  }
  await deliveries.noteError(tx, ids, err.message);
  return { kind: 'stop', error: err, reupload: [] };
}

async function handleStop(ctx: ForwardingContext, job: Job, token: string | undefined, accountId: string, err: GoogleError): Promise<void> {
  if (err.outcome === 'reauth') {
    await markNeedsReauth(ctx.services, accountId, err.message);
    return;
  }
  if (err.outcome === 'rate_limited') {
    const wait = jittered(rateLimitWaitMs(err, ctx.options.minRateLimitWaitMs));
    await throttleAccount(ctx.services, accountId, wait);
    return sleepJob(job, token, wait);
  }
  // Google's own "All requests per day" (an HTTP 429, not our ledger's refusal): stop everyone until the reset.
  if (err.outcome === 'quota_exhausted' && err.details.status === 429) await ctx.quota.exhaust(accountId);
  return sleepJob(job, token, err.details.retryAfterMs ?? ctx.options.quotaRecheckMs);
}

/** Whether an account has tokens ready to become media items now (to close the gap after a create job ends). */
export async function hasReadyTokens(ctx: ForwardingContext, accountId: string): Promise<boolean> {
  const now = ctx.now();
  return ctx.services.ledger.deliveries.hasReadyTokens(accountId, new Date(now.getTime() + ctx.options.tokenMarginMs));
}
