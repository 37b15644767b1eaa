import type { Logger } from 'pino';
import type { DeliveryRef, Scheduler } from './scheduler.ts';

// BullMQ's addBulk sends one Redis transaction per call; past a few hundred jobs a call gets long for the first waiter.
const MAX_BATCH = 500;

/**
 * A Scheduler that hands new deliveries on in batches: while one `uploads` call is out to Redis, the deliveries
 * registered meanwhile wait and leave together in the next call — a group commit for job hints, so a burst of
 * uploads costs one Redis round trip per batch instead of one per photo, and an idle relay still sends each at once.
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
    // Started from uploads(): let the caller's own tick register whatever else it has first.
    await Promise.resolve();
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
