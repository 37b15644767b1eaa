import { Worker } from 'bullmq';
import { redisConnection, type Services } from '../services.ts';
import { CREATE_QUEUE, UPLOAD_QUEUE, type CreateJob, type UploadJob } from './queue.ts';
import { ForwardingContext, type ForwardingOptions, DEFAULT_FORWARDING } from './context.ts';
import { runUpload } from './upload-step.ts';
import { hasReadyTokens, runCreate } from './create-step.ts';
import { reconcile } from './reconciler.ts';
import { applyRetention } from './retention.ts';
import { preloadOAuth } from '../google/oauth.ts';

export interface ForwardWorker {
  context: ForwardingContext;
  reconcileNow(accountId?: string): Promise<void>;
  close(): Promise<void>;
}

/** The forwarding side of the relay: upload and create workers, the reconciler and retention, on their timers. */
export async function startForwardWorker(services: Services, overrides: Partial<ForwardingOptions> = {}): Promise<ForwardWorker> {
  const options = { ...DEFAULT_FORWARDING, ...overrides };
  // Before any job runs: loading it later stalls the event loop under running jobs (see preloadOAuth).
  await preloadOAuth();
  const closing = new AbortController();
  const context = new ForwardingContext(services, options, closing.signal);
  const { config, log } = services;
  const connection = redisConnection(config, { worker: true });
  // Processors are idempotent, so a job whose worker died is simply run again, as often as that happens. A worker
  // holds as many jobs as its windows serve (dozens); with BullMQ's default look for stalled jobs every 30 s, a few
  // crashes in a row left every job of the backlog held by a dead worker for up to a minute
  // (test/forwarding-crash.test.ts). The lock stays 30 s (a shorter one made a busy worker's live jobs look stalled
  // and run twice under load); dead workers' jobs are looked for every 5 s.
  const common = { connection, prefix: config.redisPrefix, maxStalledCount: 1000, stalledInterval: 5_000 };

  const uploads = new Worker<UploadJob>(UPLOAD_QUEUE, (job, token) => runUpload(context, job, token), {
    ...common,
    concurrency: context.windows.admissible(),
  });
  // Take as many jobs as the accounts' windows serve: a job beyond its window would go back to the queue for a moment
  // (upload-step.ts), and a worker taking 16 while the window holds 4 spent its CPU bouncing jobs. A ceiling keeps
  // many accounts from taking an unbounded number (each job holds a little memory and, briefly, a connection).
  const ceiling = 2 * 2 * context.windows.options.max;
  context.windows.onResize(() => {
    uploads.concurrency = Math.min(ceiling, context.windows.admissible());
  });
  const creates = new Worker<CreateJob>(CREATE_QUEUE, (job, token) => runCreate(context, job, token), { ...common, concurrency: 4 });
  // A create job that finished may have missed tokens committed after its last look (their enqueue was
  // deduplicated against the still-active job): look once more now that its id is free.
  creates.on('completed', (job) => {
    void hasReadyTokens(context, job.data.accountId)
      .then((ready) => (ready ? services.queues.enqueueCreate(job.data.accountId) : undefined))
      .catch((err: unknown) => log.warn({ err }, 'post-create check failed'));
  });
  for (const worker of [uploads, creates]) {
    worker.on('failed', (job, err) => log.error({ err, jobId: job?.id, queue: worker.name }, 'forwarding job failed'));
    worker.on('error', (err) => log.error({ err, queue: worker.name }, 'forwarding worker error'));
  }
  await Promise.all([uploads.waitUntilReady(), creates.waitUntilReady()]);

  const reconcileNow = async (accountId?: string) => {
    const result = await reconcile({ ledger: services.ledger, queues: services.queues }, { tokenMarginMs: options.tokenMarginMs, ...(accountId ? { accountId } : {}) });
    if (result.uploads || result.creates || result.expiredTokens) log.info(result, 'reconciled forwarding jobs from the ledger');
  };
  const safely = (what: string, fn: () => Promise<unknown>) => () =>
    void fn().catch((err: unknown) => log.error({ err }, `${what} failed`));
  await reconcileNow().catch((err: unknown) => log.error({ err }, 'start-up reconcile failed'));
  const timers = [
    setInterval(safely('reconcile', reconcileNow), options.reconcileIntervalMs),
    setInterval(safely('retention', () => applyRetention(services)), options.retentionIntervalMs),
  ];
  timers.forEach((t) => t.unref());

  return {
    context,
    reconcileNow,
    async close() {
      timers.forEach(clearInterval);
      // Stop taking jobs, then abandon the Google requests in flight: a stalled peer would otherwise hold closing for
      // as long as it keeps the connection. Their jobs end transient (retried later, resumable uploads from Google's
      // offset), never failed; the workers' close waits only for that bookkeeping.
      const closed = Promise.all([uploads.close(), creates.close()]);
      closing.abort();
      await closed;
      connection.disconnect();
    },
  };
}
