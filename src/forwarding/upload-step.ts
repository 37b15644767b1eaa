import type { Job } from 'bullmq';
import { GOOGLE_MAX_BYTES, type MediaKind } from '../media/sniff.ts';
import { GoogleError, rateLimitWaitMs } from '../google/outcomes.ts';
import { markNeedsReauth } from '../google/account-tokens.ts';
import { sentWhole, type PhotosClient, type UploadSource } from '../google/photos-client.ts';
import { gateOf, throttleAccount } from './account-gate.ts';
import { backoffMs, jittered } from './backoff.ts';
import { blobSource } from './blob-source.ts';
import { sleepJob, type ForwardingContext } from './context.ts';
import type { UploadJob } from './queue.ts';
import type { Outcome, Ticket } from './concurrency.ts';
import { UPLOAD_TOKEN_LIFETIME_MS } from './token-margin.ts';
import { BATCH_CREATE_MAX } from '../ledger/backlog.ts';
import { TAIL_UPLOADS, type TokenSaved, type UploadView } from '../ledger/deliveries.ts';

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
  const { ledger } = ctx.services;
  // Commonly one round trip: the delivery moves to uploading (an attempt counted) with its account's gate open.
  const delivery = await ledger.deliveries.beginUpload(job.data.deliveryId, new Date(ctx.now().getTime() + ctx.options.tokenMarginMs));
  if (!delivery) return notBegun(ctx, job, token);
  const { accountId, blob } = delivery;

  const kind: MediaKind = blob.mimeType.startsWith('video/') ? 'video' : 'photo';
  if (blob.size > GOOGLE_MAX_BYTES[kind]) {
    return fail(ctx, delivery.id, `The ${kind} is larger than Google Photos accepts (${GOOGLE_MAX_BYTES[kind]} bytes)`);
  }
  // A raw upload reads the file once, hashing it as it goes, and keeps Google's token only if the hash holds; a
  // resumable one reads it in pieces, perhaps over several runs, so it is verified whole before anything is sent.
  const resumable = blob.size > ctx.options.resumableThresholdBytes;
  if (!(await bytesSound(ctx, job, token, delivery.id, blob, resumable ? 'hash' : 'presence'))) return;
  const source = blobSource(ctx.services.blobs, blob, delivery.fileName ?? blob.sha256);
  if (!resumable && sentWhole(source)) source.prefetch();

  const slot = await (ticket ?? ctx.windows.of(accountId)).acquire();
  const started = performance.now();
  let outcome: Outcome = 'other';
  let uploadToken: string;
  try {
    const photos = ctx.photosFor(accountId, delivery.account.sealedRefreshToken);
    uploadToken = resumable
      ? await uploadResumable(ctx, photos, delivery.id, delivery.uploadSessionUrl, source)
      : await photos.uploadRaw(source);
    outcome = 'ok';
  } catch (err) {
    if (!(err instanceof GoogleError)) throw err;
    // 429 and 5xx (and cuts) are Google pushing back: the window halves. Other refusals say nothing about load.
    if (err.outcome === 'rate_limited' || err.outcome === 'transient') outcome = 'congested';
    ctx.services.metrics.forwardOutcomes.inc({ outcome: err.outcome });
    ctx.services.log.info({ deliveryId: delivery.id, outcome: err.outcome, reason: err.message }, 'upload to Google did not succeed');
    return handleGoogleError(ctx, job, token, delivery.id, accountId, delivery.attempts, err);
  } finally {
    slot.release(outcome, performance.now() - started);
  }

  if (!resumable && !source.intact()) {
    // The bytes read while sending were not the blob's: the token is never used (no media item is made of it). A
    // damaged or missing blob fails the delivery; one sound on a second reading was misread once: send it again.
    if (!(await bytesSound(ctx, job, token, delivery.id, blob, 'hash'))) return;
    const wait = backoffMs(delivery.attempts);
    const reason = 'The stored bytes read differently while they were sent; sending them again';
    await ledger.deliveries.deferRetry([delivery.id], { reason, nextAttemptAt: new Date(ctx.now().getTime() + wait) });
    return sleepJob(job, token, wait);
  }
  const now = ctx.now().getTime();
  const saved = await ledger.deliveries.recordUploadToken(
    delivery.id,
    uploadToken,
    new Date(now + UPLOAD_TOKEN_LIFETIME_MS),
    new Date(now + ctx.options.tokenMarginMs),
  );
  if (!saved) {
    ctx.services.log.warn({ deliveryId: delivery.id }, 'upload finished for a delivery that moved on meanwhile; its token is not used');
    return;
  }
  ctx.services.metrics.forwardOutcomes.inc({ outcome: 'uploaded' });
  await tokenSaved(ctx, accountId, saved);
}

/**
 * Whether the bytes to send are there (and, with 'hash', sound). When they are not, the delivery is held (the spool
 * is not this relay's) or failed (the blob is lost: the phones are asked for it again), and false comes back.
 */
async function bytesSound(
  ctx: ForwardingContext,
  job: Job,
  token: string | undefined,
  deliveryId: string,
  blob: UploadView['blob'],
  check: 'presence' | 'hash',
): Promise<boolean> {
  const bytes = await storedBytes(ctx, blob.sha256, blob.stored, check);
  if (bytes === 'unverifiable') {
    // The spool is not the one verified at start (unmounted, swapped): nothing can be concluded about any file.
    ctx.services.log.error({ deliveryId, spool: ctx.services.blobs.root }, 'the spool is not available or not this relay\'s; holding deliveries until it is');
    // Not an attempt at Google: the count beginUpload added is given back, so a long outage does not grow the backoff.
    await ctx.services.ledger.deliveries.deferRetry([deliveryId], {
      reason: SPOOL_UNAVAILABLE,
      nextAttemptAt: new Date(ctx.now().getTime() + ctx.options.spoolRecheckMs),
      attempts: -1,
    });
    return sleepJob(job, token, ctx.options.spoolRecheckMs);
  }
  if (bytes === 'lost') {
    // Stored bytes missing or damaged: say so, and let the phones send them again (check lists them as missing).
    await fail(ctx, deliveryId, 'The relay\'s stored copy is missing or damaged; upload the file again from the phone, then retry');
    return false;
  }
  return true;
}

/** Why a delivery did not move to uploading: done, holding a good token (its create job is asked to run), or held. */
async function notBegun(ctx: ForwardingContext, job: Job, token: string | undefined): Promise<void> {
  const delivery = await ctx.services.ledger.deliveries.forUpload(job.data.deliveryId);
  if (!delivery || delivery.state === 'backed_up' || delivery.state === 'failed') return;
  const gate = gateOf(delivery.account, ctx.now());
  if (!gate.open) {
    if (gate.waitMs) await sleepJob(job, token, gate.waitMs);
    return; // held: resuming or re-linking the account schedules it again
  }
  if (delivery.uploadToken && (delivery.uploadTokenExpiresAt?.getTime() ?? 0) > ctx.now().getTime() + ctx.options.tokenMarginMs) {
    await ctx.services.queues.enqueueCreate(delivery.accountId, ctx.options.createDelayMs);
  }
  // Otherwise it moved on between the two reads (a duplicate run of this job): nothing to do.
}

/**
 * Tell the account's create job about a new token. A whole batch ready, or the last upload of the account done:
 * it runs now (a batchCreate starts while other uploads go on). Otherwise it gathers for a moment, so tokens
 * arriving one after another share a call.
 *
 * Near the end of a backlog, uploads finishing at the same instant each see the others still under way (their
 * statements' snapshots miss each other's commits), and none would wake the job: the burst's last batch then waited
 * out the whole gather (a second). So there each looks again once its token is committed; of two such uploads, the
 * one committing last sees the other's token.
 */
async function tokenSaved(ctx: ForwardingContext, accountId: string, saved: TokenSaved): Promise<void> {
  const { queues, ledger } = ctx.services;
  if (saved.ready >= BATCH_CREATE_MAX || saved.stillToUpload === 0) return queues.wakeCreate(accountId);
  // The first token of a batch schedules the job; later ones find it scheduled (the upload that saved the token
  // before them did it, and a running job looks for tokens again as it ends): a Redis script per upload saved.
  if (saved.ready === 1) await queues.enqueueCreate(accountId, ctx.options.createDelayMs);
  if (saved.stillToUpload > TAIL_UPLOADS) return;
  // Not waited for: the job is done, and its worker's place is better spent on the next upload (the gather's own
  // deadline still stands behind a look that fails).
  const freshUntil = new Date(ctx.now().getTime() + ctx.options.tokenMarginMs);
  void ledger.deliveries
    .createDue(accountId, freshUntil)
    .then((due) => (due ? queues.wakeCreate(accountId) : undefined))
    .catch((err: unknown) => ctx.services.log.warn({ err, accountId }, 'could not look for a due media item creation'));
}

const SPOOL_UNAVAILABLE = 'The relay cannot see its spool (not mounted, or not this relay\'s); waiting for it';

/**
 * Whether the bytes to send are here (and with 'hash', sound). A file counts as lost only when its absence (ENOENT)
 * or damage is seen on the spool verified at start; then, under the content lock, the blob is marked not stored. Any
 * other error (EIO, a stale NFS handle) throws: the job retries, nothing is concluded.
 */
async function storedBytes(ctx: ForwardingContext, sha256: string, stored: boolean, check: 'presence' | 'hash'): Promise<'ok' | 'lost' | 'unverifiable'> {
  const { blobs, ledger } = ctx.services;
  if (!stored) return 'lost';
  const sound = async () => (await blobs.has(sha256)) && (check === 'presence' || (await blobs.verify(sha256)));
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
