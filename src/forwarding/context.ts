import type { Job } from 'bullmq';
import { DelayedError } from 'bullmq';
import type { Services } from '../services.ts';
import { AccountTokens } from '../google/account-tokens.ts';
import { PhotosClient } from '../google/photos-client.ts';
import { GoogleError, MIN_RATE_LIMIT_WAIT_MS } from '../google/outcomes.ts';
import { QuotaLedger } from './quota.ts';
import { TOKEN_MARGIN_MS } from './token-margin.ts';
import { AccountWindows } from './concurrency.ts';

/** Where an adaptive window starts: the fixed concurrency the relay used before it adapted. */
const INITIAL_WINDOW = 4;

export interface ForwardingOptions {
  /** Files above this go through a resumable upload session; below, one raw request. */
  resumableThresholdBytes: number;
  /** Preferred resumable chunk size (rounded to Google's granularity). */
  chunkBytes: number;
  /** Upload tokens live a day; re-upload rather than use one closer than this to expiry. */
  tokenMarginMs: number;
  /** Let uploads of an account gather before creating their media items in one call. */
  createDelayMs: number;
  /** Longest a partial batch (under 50 items) waits for the account's uploads still under way. */
  createGatherMs: number;
  /** Longest a job sleeps on a quota or fair-share refusal before looking again. */
  quotaRecheckMs: number;
  reconcileIntervalMs: number;
  retentionIntervalMs: number;
  /** Uploads in flight per account from this process at most; unset: FORWARD_MAX_CONCURRENCY. */
  maxConcurrency?: number;
  /** Adapt the window to Google's answers; unset: FORWARD_ADAPTIVE_CONCURRENCY. */
  adaptiveConcurrency?: boolean;
  /** The least wait after a 429 (Google: 30 s); tests shorten it. */
  minRateLimitWaitMs: number;
  /** How often a delivery looks again for a spool that went away (unmounted, swapped). */
  spoolRecheckMs: number;
  /** A Google request without progress this long is abandoned (transient); unset: GOOGLE_UPLOAD_IDLE_TIMEOUT_SECONDS. */
  googleIdleTimeoutMs?: number;
}

export const DEFAULT_FORWARDING: ForwardingOptions = {
  resumableThresholdBytes: 32 * 1024 * 1024,
  chunkBytes: 16 * 1024 * 1024,
  tokenMarginMs: TOKEN_MARGIN_MS,
  createDelayMs: 1000,
  createGatherMs: 30_000,
  quotaRecheckMs: 5 * 60_000,
  reconcileIntervalMs: 60_000,
  retentionIntervalMs: 10 * 60_000,
  minRateLimitWaitMs: MIN_RATE_LIMIT_WAIT_MS,
  spoolRecheckMs: 60_000,
};

/** What the forwarding processors share: the services, Google access per account and the quota ledger. */
export class ForwardingContext {
  readonly tokens: AccountTokens;
  readonly quota: QuotaLedger;
  /** Uploads to Google in flight per account, from this process. */
  readonly windows: AccountWindows;

  constructor(
    readonly services: Services,
    readonly options: ForwardingOptions,
    /** Fires when the worker closes: Google requests in flight are abandoned as transient, so closing never waits on a stalled peer. */
    readonly closing?: AbortSignal,
  ) {
    this.tokens = new AccountTokens(services);
    const max = options.maxConcurrency ?? services.config.forwarding.maxConcurrency;
    this.windows = new AccountWindows({
      max,
      initial: Math.min(max, INITIAL_WINDOW),
      adaptive: options.adaptiveConcurrency ?? services.config.forwarding.adaptiveConcurrency,
    });
    // Read services.clock on every call, not once here: it is replaceable (tests move time), and a ledger holding
    // the old function kept counting the wrong quota day after the clock moved past the Pacific midnight.
    this.quota = new QuotaLedger(services.db, services.ledger.pool, services.config.google.dailyRequestLimit, () => services.clock());
  }

  now(): Date {
    return this.services.clock();
  }

  /** `sealed`: the account's link as just read with the delivery (see AccountTokens.forAccount). */
  photosFor(accountId: string, sealed?: Buffer | null): PhotosClient {
    return new PhotosClient({
      apiUrl: this.services.config.google.photosApiUrl,
      tokens: this.tokens.forAccount(accountId, sealed),
      chunkBytes: this.options.chunkBytes,
      idleTimeoutMs: this.options.googleIdleTimeoutMs ?? this.services.config.google.idleTimeoutMs,
      ...(this.closing ? { closing: this.closing } : {}),
      observe: (endpoint, status) => this.services.metrics.googleRequests.inc({ endpoint, status: String(status) }),
      beforeRequest: async () => {
        const reservation = await this.quota.reserve(accountId);
        if (!reservation.granted) {
          const wait = Math.min(this.options.quotaRecheckMs, reservation.resetsAt.getTime() - this.now().getTime());
          throw new GoogleError('quota_exhausted', `daily Google request budget ${reservation.reason === 'exhausted' ? 'spent' : 'share used'}`, {
            retryAfterMs: Math.max(1000, wait),
          });
        }
      },
    });
  }
}

/** Put the running job back to sleep without spending an attempt (BullMQ's documented pattern). */
export async function sleepJob(job: Job, token: string | undefined, ms: number): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(1, Math.round(ms)), token);
  throw new DelayedError();
}
