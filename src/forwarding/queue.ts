import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

export const FORWARD_QUEUE = 'forward';

export interface DeliverJob {
  deliveryId: string;
}

/**
 * The scheduler's side of forwarding. Jobs carry delivery ids only; the delivery row is the truth. A failed
 * enqueue loses nothing: the reconciler finds every non-terminal delivery without a job and schedules it.
 */
export class ForwardQueue {
  constructor(
    readonly queue: Queue<DeliverJob>,
    private readonly connection: Redis,
    private readonly log: Logger,
  ) {}

  /** Takes ownership of `connection`: close() disconnects it. */
  static create(connection: Redis, prefix: string, log: Logger): ForwardQueue {
    return new ForwardQueue(new Queue<DeliverJob>(FORWARD_QUEUE, { connection, prefix }), connection, log);
  }

  async enqueue(deliveryIds: string[], delayMs = 0): Promise<void> {
    if (deliveryIds.length === 0) return;
    try {
      await this.queue.addBulk(
        deliveryIds.map((deliveryId) => ({
          name: 'deliver',
          data: { deliveryId },
          // The job id dedupes while the job lives; the delivery row dedupes forever.
          opts: { jobId: deliveryId, delay: delayMs, removeOnComplete: true, removeOnFail: 1000 },
        })),
      );
    } catch (err) {
      this.log.warn({ err, deliveries: deliveryIds.length }, 'enqueue failed; the reconciler will schedule these deliveries');
    }
  }

  async close(): Promise<void> {
    await this.queue.close();
    this.connection.disconnect();
  }
}
