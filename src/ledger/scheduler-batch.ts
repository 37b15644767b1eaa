import type { Logger } from 'pino';
import type { DeliveryRef, Scheduler } from './scheduler.ts';

// BullMQ's addBulk sends one Redis transaction per call; past a few hundred jobs a call gets long for the first waiter.
const MAX_BATCH = 500;
// How long the first hint of a batch waits for company. Nobody waits for hints (an upload's answer does not), and a
// forwarding job starting 25 ms later is nothing; a burst of uploads then costs one addBulk per few photos.
const LINGER_MS = 25;

/**
 * A Scheduler that hands new deliveries on in batches: a hint waits up to `lingerMs` for others, and while one
 * `uploads` call is out to Redis, the deliveries registered meanwhile wait and leave together in the next call — a
 * group commit for job hints, so a burst of uploads costs one Redis round trip per batch instead of one per photo.
 * The promise `uploads` returns settles when the call carrying those deliveries has returned; a registration does not
 * wait for it. A hint lost on the way (Redis away, the process ending) is what the reconciler exists for: this never
 * throws.
 */
export class BatchingScheduler implements Scheduler {
  private waiting: Array<{ delivery: DeliveryRef; sent: () => void }> = [];
  private sending: Promise<void> | null = null;

  constructor(
    private readonly inner: Scheduler,
    private readonly log: Pick<Logger, 'warn'>,
    private readonly lingerMs = LINGER_MS,
  ) {}

  uploads(deliveries: DeliveryRef[]): Promise<void> {
    if (deliveries.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let left = deliveries.length;
      const sent = () => {
        if (--left === 0) resolve();
      };
      for (const delivery of deliveries) this.waiting.push({ delivery, sent });
      this.sending ??= this.send();
    });
  }

  /** Resolves once every hint handed over so far has been sent (or has failed): for a shutdown. */
  async settled(): Promise<void> {
    while (this.sending) await this.sending;
  }

  account(accountId?: string): Promise<void> {
    return this.inner.account(accountId);
  }

  private async send(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.lingerMs));
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      try {
        await this.inner.uploads(batch.map((w) => w.delivery));
      } catch (err) {
        this.log.warn({ err, deliveries: batch.length }, 'scheduling failed; the reconciler will schedule these deliveries');
      }
      for (const w of batch) w.sent();
    }
    this.sending = null;
  }
}
