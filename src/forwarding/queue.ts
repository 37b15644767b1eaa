import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DeliveryRef } from '../ledger/scheduler.ts';

export const UPLOAD_QUEUE = 'forward-upload';
export const CREATE_QUEUE = 'forward-create';

export interface UploadJob {
  deliveryId: string;
  /** Lets a job whose account's window is full step back before reading anything (absent on older jobs). */
  accountId?: string;
}
export interface CreateJob {
  accountId: string;
}

export type { DeliveryRef };

/**
 * Google's answers are handled inside the processors; these attempts are for everything else (Postgres away for a
 * moment, a bug): retried with backoff, and after the last the reconciler schedules the delivery again.
 */
const UNEXPECTED_ERROR_RETRIES = { attempts: 5, backoff: { type: 'exponential', delay: 1000 } } as const;

// BullMQ's highest usable priority number; lower runs first.
const MAX_PRIORITY = 2_097_152;

export const createJobId = (accountId: string) => `create-${accountId}`;

/**
 * The scheduler's side of forwarding. Jobs carry ids only; the delivery rows are the truth. A failed enqueue
 * loses nothing: the reconciler schedules every non-terminal delivery that has no job.
 *
 * Uploads run in parallel across workers, one job per delivery. Media items are created per account by one
 * batching job at a time (its id is the account's), so batchCreate calls for an account never overlap.
 */
export class ForwardQueues {
  constructor(
    readonly uploads: Queue<UploadJob>,
    readonly creates: Queue<CreateJob>,
    private readonly connection: Redis,
    private readonly log: Logger,
  ) {}

  /** Takes ownership of `connection`: close() disconnects it. */
  static create(connection: Redis, prefix: string, log: Logger): ForwardQueues {
    return new ForwardQueues(
      new Queue<UploadJob>(UPLOAD_QUEUE, { connection, prefix }),
      new Queue<CreateJob>(CREATE_QUEUE, { connection, prefix }),
      connection,
      log,
    );
  }

  /**
   * Priority is the delivery's rank within its account's backlog, so the queue interleaves accounts:
   * a large backlog never starves another account's few new photos.
   */
  async enqueueUploads(deliveries: DeliveryRef[], delayMs = 0): Promise<boolean> {
    if (deliveries.length === 0) return true;
    try {
      await this.uploads.addBulk(
        deliveries.map((d) => ({
          name: 'upload',
          data: { deliveryId: d.id, accountId: d.accountId },
          opts: {
            jobId: d.id,
            delay: delayMs,
            priority: Math.min(MAX_PRIORITY, Math.max(1, d.rank ?? 1)),
            removeOnComplete: true,
            removeOnFail: true,
            ...UNEXPECTED_ERROR_RETRIES,
          },
        })),
      );
      return true;
    } catch (err) {
      this.log.warn({ err, deliveries: deliveries.length }, 'enqueue failed; the reconciler will schedule these deliveries');
      return false;
    }
  }

  /**
   * One create job per account. Redis may keep its hash but lose its place in every list when keys go one by one
   * (eviction, a wipe that is not atomic): such a job never runs, and each add after it finds it and does nothing, so
   * the account's creates would stop for good. It is made again instead; the extra run this costs when the job just
   * finished between the two calls is harmless (a create job takes only what is ready).
   */
  async enqueueCreate(accountId: string, delayMs = 0): Promise<void> {
    await this.placeCreate(accountId, delayMs);
  }

  /**
   * Run the account's create job now: add it, or bring it forward when it sleeps (a gather wait, a later start).
   * A running job is left alone; its end looks for tokens it missed (worker.ts).
   */
  async wakeCreate(accountId: string): Promise<void> {
    const placed = await this.placeCreate(accountId, 0);
    if (placed?.state !== 'delayed') return;
    try {
      await placed.job.promote();
    } catch {
      // It moved on meanwhile (started, finished): either way it runs or looks again.
    }
  }

  /** enqueueCreate's work: the account's job and the state it was found in (null when Redis failed: logged). */
  private async placeCreate(accountId: string, delayMs: number): Promise<{ job: Job<CreateJob>; state: string } | null> {
    const opts = { jobId: createJobId(accountId), delay: delayMs, removeOnComplete: true, removeOnFail: true, ...UNEXPECTED_ERROR_RETRIES };
    try {
      const job = await this.creates.add('create', { accountId }, opts);
      const state = await job.getState();
      if (state !== 'unknown') return { job, state };
      await job.remove();
      return { job: await this.creates.add('create', { accountId }, opts), state: delayMs > 0 ? 'delayed' : 'waiting' };
    } catch (err) {
      this.log.warn({ err, accountId }, 'enqueue of media item creation failed; the reconciler will retry');
      return null;
    }
  }

  async depths(): Promise<Record<string, Record<string, number>>> {
    const kinds = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;
    const [uploads, creates] = await Promise.all([this.uploads.getJobCounts(...kinds), this.creates.getJobCounts(...kinds)]);
    return { upload: uploads, create: creates };
  }

  async close(): Promise<void> {
    await Promise.all([this.uploads.close(), this.creates.close()]);
    this.connection.disconnect();
  }
}
