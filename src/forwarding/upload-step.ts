import type { Job } from 'bullmq';
import { GOOGLE_MAX_BYTES, type MediaKind } from '../media/sniff.ts';
import { GoogleError, rateLimitWaitMs } from '../google/outcomes.ts';
import { markNeedsReauth } from '../google/account-tokens.ts';
import type { PhotosClient, UploadSource } from '../google/photos-client.ts';
import { accountGate, throttleAccount } from './account-gate.ts';
import { backoffMs, jittered } from './backoff.ts';
import { blobSource, verifyBlob } from './blob-source.ts';
import { sleepJob, type ForwardingContext } from './context.ts';
import type { UploadJob } from './queue.ts';

export const UPLOAD_TOKEN_LIFETIME_MS = 24 * 3600_000;

/**
 * Step one of a delivery: get the bytes to Google and keep the upload token in the delivery row, so a crash
 * after this point never uploads them again. Media item creation is the account's batching job's work.
 */
export async function runUpload(ctx: ForwardingContext, job: Job<UploadJob>, token?: string): Promise<void> {
  const { db, blobs, log, queues } = ctx.services;
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
  if (!delivery.blob.stored || !(await blobs.has(blob.sha256)) || !(await verifyBlob(blobs, blob.sha256))) {
    // Stored bytes missing or damaged: say so, and let the phones send them again (check lists them as missing).
    await db.blob.update({ where: { sha256: blob.sha256 }, data: { stored: false } });
    await blobs.remove(blob.sha256);
    return fail(ctx, delivery.id, 'The relay\'s stored copy is missing or damaged; upload the file again from the phone, then retry');
  }

  const asset = await db.asset.findFirst({ where: { accountId, blobSha256: blob.sha256 }, orderBy: { createdAt: 'asc' }, select: { fileName: true } });
  const source = blobSource(blobs, blob, asset?.fileName ?? `${blob.sha256}`);
  await db.delivery.update({ where: { id: delivery.id }, data: { state: 'uploading', attempts: { increment: 1 }, nextAttemptAt: null } });

  try {
    const photos = ctx.photosFor(accountId);
    const uploadToken =
      blob.size > ctx.options.resumableThresholdBytes
        ? await uploadResumable(ctx, photos, delivery.id, delivery.uploadSessionUrl, source)
        : await photos.uploadRaw(source);
    await db.delivery.update({
      where: { id: delivery.id },
      data: {
        uploadToken,
        uploadTokenExpiresAt: new Date(ctx.now().getTime() + UPLOAD_TOKEN_LIFETIME_MS),
        uploadSessionUrl: null,
        lastError: null,
      },
    });
    ctx.services.metrics.forwardOutcomes.inc({ outcome: 'uploaded' });
    await queues.enqueueCreate(accountId, ctx.options.createDelayMs);
  } catch (err) {
    if (!(err instanceof GoogleError)) throw err;
    ctx.services.metrics.forwardOutcomes.inc({ outcome: err.outcome });
    log.info({ deliveryId: delivery.id, outcome: err.outcome, reason: err.message }, 'upload to Google did not succeed');
    await handleGoogleError(ctx, job, token, delivery.id, accountId, delivery.attempts + 1, err);
  }
}

/** Resume the persisted session when there is one (after a cut or a crash), else start one and persist it first. */
async function uploadResumable(ctx: ForwardingContext, photos: PhotosClient, deliveryId: string, sessionJson: string | null, source: UploadSource): Promise<string> {
  const { db } = ctx.services;
  let session = sessionJson ? (JSON.parse(sessionJson) as { url: string; granularity: number }) : null;
  let offset = 0;
  if (session) {
    const received = await photos.queryResumable(session).catch(() => null);
    if (received === null) session = null;
    else offset = received;
  }
  if (!session) {
    session = await photos.startResumable(source);
    await db.delivery.update({ where: { id: deliveryId }, data: { uploadSessionUrl: JSON.stringify(session) } });
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
  await ctx.services.db.delivery.update({
    where: { id: deliveryId },
    data: { state: 'failed', lastError: reason, uploadToken: null, uploadTokenExpiresAt: null, uploadSessionUrl: null, nextAttemptAt: null },
  });
  ctx.services.log.warn({ deliveryId, reason }, 'delivery failed permanently');
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
  const { db } = ctx.services;
  switch (err.outcome) {
    case 'permanent':
      return fail(ctx, deliveryId, err.message);
    case 'reauth':
      await markNeedsReauth(ctx.services, accountId, err.message);
      return;
    case 'rate_limited': {
      const wait = jittered(rateLimitWaitMs(err, ctx.options.minRateLimitWaitMs));
      await throttleAccount(ctx.services, accountId, wait);
      await db.delivery.update({ where: { id: deliveryId }, data: { lastError: err.message, attempts: { decrement: 1 } } });
      return sleepJob(job, token, wait);
    }
    case 'quota_exhausted': {
      // From Google itself (an HTTP 429), not from our ledger: make the ledger agree, so nothing more is sent today.
      if (err.details.status === 429) await ctx.quota.exhaust(accountId);
      const wait = err.details.retryAfterMs ?? ctx.options.quotaRecheckMs;
      // next_attempt_at tells the batching step this upload is not about to finish (no point gathering for it).
      await db.delivery.update({
        where: { id: deliveryId },
        data: { lastError: err.message, attempts: { decrement: 1 }, nextAttemptAt: new Date(ctx.now().getTime() + wait) },
      });
      return sleepJob(job, token, wait);
    }
    default: {
      const wait = backoffMs(attempt);
      await db.delivery.update({
        where: { id: deliveryId },
        data: { lastError: err.message, nextAttemptAt: new Date(ctx.now().getTime() + wait) },
      });
      return sleepJob(job, token, wait);
    }
  }
}

export { handleGoogleError };
