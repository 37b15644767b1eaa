import type { Job } from 'bullmq';
import { GOOGLE_MAX_BYTES, type MediaKind } from '../media/sniff.ts';
import { GoogleError, rateLimitWaitMs } from '../google/outcomes.ts';
import { markNeedsReauth } from '../google/account-tokens.ts';
import type { PhotosClient, UploadSource } from '../google/photos-client.ts';
import { accountGate, throttleAccount } from './account-gate.ts';
import { backoffMs, jittered } from './backoff.ts';
import { blobSource } from './blob-source.ts';
import { sleepJob, type ForwardingContext } from './context.ts';
import type { UploadJob } from './queue.ts';
import type { Outcome, Ticket } from './concurrency.ts';
import { UPLOAD_TOKEN_LIFETIME_MS } from './token-margin.ts';
import { BATCH_CREATE_MAX } from '../ledger/backlog.ts';
import type { TokenSaved } from '../ledger/deliveries.ts';

/** A job beyond its account's window and its waiting line goes back to the queue this long (jittered). */
const STEP_BACK_MS = 100;

/**
 * Step one of a delivery: get the bytes to Google and keep the upload token in the delivery row, so a crash
 * after this point never uploads them again. Media item creation is the account's batching job's work.
 */
export async function runUpload(ctx: ForwardingContext, job: Job<UploadJob>, token?: string): Promise<void> {
  // A job beyond what its account's window serves steps back before it reads anything (older jobs carry no account).
  const ticket = job.data.accountId ? ctx.windows.of(job.data.accountId).admit() : null;
  if (job.data.accountId && !ticket) return sleepJob(job, token, jittered(STEP_BACK_MS));
  try {
    await upload(ctx, job, token, ticket);
  } finally {
    ticket?.leave();
  }
}

async function upload(
  ctx: ForwardingContext,
  job: Job<UploadJob>,
  token: string | undefined,
  ticket: Ticket | null,
): Promise<void> {
  const { db, blobs, log, queues, ledger } = ctx.services;
  const delivery = await db.delivery.findUnique({ where: { id: job.data.deliveryId }, include: { blob: true } });
  if (!delivery || delivery.state === 'backed_up' || delivery.state === 'failed') return;
  const { accountId } = delivery;

  const gate = await accountGate(ctx.services, accountId);
  if (!gate.open) {
    if (gate.waitMs) await sleepJob(job, token, gate.waitMs);
    return; // held: resuming or re-linking the account schedules it again
  }
  if (delivery.uploadToken && (delivery.uploadTokenExpiresAt?.getTime() ?? 0) > ctx.now().getTime() + ctx.options.tokenMarginMs) {
    await queues.enqueueCreate(accountId, ctx.options.createDelayMs);
    return;
  }

  const blob = { sha256: delivery.blobSha256, size: Number(delivery.blob.size), mimeType: delivery.blob.mimeType };
  const kind: MediaKind = blob.mimeType.startsWith('video/') ? 'video' : 'photo';
  if (blob.size > GOOGLE_MAX_BYTES[kind]) {
    return fail(ctx, delivery.id, `The ${kind} is larger than Google Photos accepts (${GOOGLE_MAX_BYTES[kind]} bytes)`);
  }
  const bytes = await storedBytes(ctx, blob.sha256, delivery.blob.stored);
  if (bytes === 'unverifiable') {
    // The spool is not the one verified at start (unmounted, swapped): nothing can be concluded about any file.
    log.error({ deliveryId: delivery.id, spool: blobs.root }, 'the spool is not available or not this relay\'s; holding deliveries until it is');
    await ledger.deliveries.deferRetry([delivery.id], { reason: SPOOL_UNAVAILABLE, nextAttemptAt: new Date(ctx.now().getTime() + ctx.options.spoolRecheckMs) });
    return sleepJob(job, token, ctx.options.spoolRecheckMs);
  }
  if (bytes === 'lost') {
    // Stored bytes missing or damaged: say so, and let the phones send them again (check lists them as missing).
    return fail(ctx, delivery.id, 'The relay\'s stored copy is missing or damaged; upload the file again from the phone, then retry');
  }

  const asset = await db.asset.findFirst({ where: { accountId, blobSha256: blob.sha256 }, orderBy: { createdAt: 'asc' }, select: { fileName: true } });
  const source = blobSource(blobs, blob, asset?.fileName ?? `${blob.sha256}`);
  // A duplicate run (a redelivered job, a lost lock) finds the delivery moved on and stops here.
  if (!(await ledger.deliveries.beginUpload(delivery.id, new Date(ctx.now().getTime() + ctx.options.tokenMarginMs)))) return;

  const slot = await (ticket ?? ctx.windows.of(accountId)).acquire();
  const started = performance.now();
  let outcome: Outcome = 'other';
  try {
    const photos = ctx.photosFor(accountId);
    const uploadToken =
      blob.size > ctx.options.resumableThresholdBytes
        ? await uploadResumable(ctx, photos, delivery.id, delivery.uploadSessionUrl, source)
        : await photos.uploadRaw(source);
    outcome = 'ok';
    slot.release(outcome, performance.now() - started);
    const now = ctx.now().getTime();
    const saved = await ledger.deliveries.recordUploadToken(
      delivery.id,
      uploadToken,
      new Date(now + UPLOAD_TOKEN_LIFETIME_MS),
      new Date(now + ctx.options.tokenMarginMs),
    );
    if (!saved) {
      log.warn({ deliveryId: delivery.id }, 'upload finished for a delivery that moved on meanwhile; its token is not used');
      return;
    }
    ctx.services.metrics.forwardOutcomes.inc({ outcome: 'uploaded' });
    await tokenSaved(ctx, accountId, saved);
  } catch (err) {
    if (!(err instanceof GoogleError)) {
      slot.release('other');
      throw err;
    }
    // 429 and 5xx (and cuts) are Google pushing back: the window halves. Other refusals say nothing about load.
    if (err.outcome === 'rate_limited' || err.outcome === 'transient') outcome = 'congested';
    slot.release(outcome, performance.now() - started);
    ctx.services.metrics.forwardOutcomes.inc({ outcome: err.outcome });
    log.info({ deliveryId: delivery.id, outcome: err.outcome, reason: err.message }, 'upload to Google did not succeed');
    await handleGoogleError(ctx, job, token, delivery.id, accountId, delivery.attempts + 1, err);
  }
}

/**
 * Tell the account's create job about a new token. A whole batch ready, or the last upload of the account done:
 * it runs now (a batchCreate starts while other uploads go on). Otherwise it gathers for a moment, so tokens
 * arriving one after another share a call.
 */
async function tokenSaved(ctx: ForwardingContext, accountId: string, saved: TokenSaved): Promise<void> {
  const { queues } = ctx.services;
  if (saved.ready >= BATCH_CREATE_MAX || !saved.moreComing) await queues.wakeCreate(accountId);
  else await queues.enqueueCreate(accountId, ctx.options.createDelayMs);
}

const SPOOL_UNAVAILABLE = 'The relay cannot see its spool (not mounted, or not this relay\'s); waiting for it';

/**
 * Whether the bytes to send are here and sound. A file counts as lost only when its absence (ENOENT) or damage is
 * seen on the spool verified at start; then, under the content lock, the blob is marked not stored. Any other error
 * (EIO, a stale NFS handle) throws: the job retries, nothing is concluded.
 */
async function storedBytes(ctx: ForwardingContext, sha256: string, stored: boolean): Promise<'ok' | 'lost' | 'unverifiable'> {
  const { blobs, ledger } = ctx.services;
  if (!stored) return 'lost';
  const sound = async () => (await blobs.has(sha256)) && (await blobs.verify(sha256));
  if (await sound()) return 'ok';
  if (!(await blobs.identityHolds())) return 'unverifiable';
  const stillGone = async () => (await blobs.identityHolds()) && !(await sound());
  return (await ledger.blobs.markLost(sha256, stillGone, () => blobs.remove(sha256))) ? 'lost' : 'ok';
}

/** Resume the persisted session when there is one (after a cut or a crash), else start one and persist it first. */
async function uploadResumable(ctx: ForwardingContext, photos: PhotosClient, deliveryId: string, sessionJson: string | null, source: UploadSource): Promise<string> {
  let session = sessionJson ? (JSON.parse(sessionJson) as { url: string; granularity: number }) : null;
  let offset = 0;
  if (session) {
    const received = await photos.queryResumable(session).catch(() => null);
    if (received === null) session = null;
    else offset = received;
  }
  if (!session) {
    session = await photos.startResumable(source);
    await ctx.services.ledger.deliveries.saveUploadSession(deliveryId, JSON.stringify(session));
  }
  const active = session;
  try {
    return await photos.continueResumable(active, source, offset);
  } catch (err) {
    if (!(err instanceof GoogleError) || err.outcome !== 'transient') throw err;
    // A cut mid-chunk: ask how much arrived and go on from there, once, before falling back to a retry.
    const received = await photos.queryResumable(active);
    if (received === null) throw err;
    return photos.continueResumable(active, source, received);
  }
}

export async function fail(ctx: ForwardingContext, deliveryId: string, reason: string): Promise<void> {
  if (await ctx.services.ledger.deliveries.fail(deliveryId, reason)) ctx.services.log.warn({ deliveryId, reason }, 'delivery failed permanently');
}

/** The outcome table applied to one delivery's upload. */
async function handleGoogleError(
  ctx: ForwardingContext,
  job: Job,
  token: string | undefined,
  deliveryId: string,
  accountId: string,
  attempt: number,
  err: GoogleError,
): Promise<void> {
  const { deliveries } = ctx.services.ledger;
  switch (err.outcome) {
    case 'permanent':
      return fail(ctx, deliveryId, err.message);
    case 'reauth':
      await markNeedsReauth(ctx.services, accountId, err.message);
      return;
    case 'rate_limited': {
      const wait = jittered(rateLimitWaitMs(err, ctx.options.minRateLimitWaitMs));
      await throttleAccount(ctx.services, accountId, wait);
      await deliveries.deferRetry([deliveryId], { reason: err.message, nextAttemptAt: null, attempts: -1 });
      return sleepJob(job, token, wait);
    }
    case 'quota_exhausted': {
      // From Google itself (an HTTP 429), not from our ledger: make the ledger agree, so nothing more is sent today.
      if (err.details.status === 429) await ctx.quota.exhaust(accountId);
      const wait = err.details.retryAfterMs ?? ctx.options.quotaRecheckMs;
      // next_attempt_at tells the batching step this upload is not about to finish (no point gathering for it).
      await deliveries.deferRetry([deliveryId], { reason: err.message, nextAttemptAt: new Date(ctx.now().getTime() + wait), attempts: -1 });
      return sleepJob(job, token, wait);
    }
    default: {
      const wait = backoffMs(attempt);
      await deliveries.deferRetry([deliveryId], { reason: err.message, nextAttemptAt: new Date(ctx.now().getTime() + wait) });
      return sleepJob(job, token, wait);
    }
  }
}

export { handleGoogleError };
