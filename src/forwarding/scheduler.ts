import type { Logger } from 'pino';
import type { Ledger } from '../ledger/ledger.ts';
import type { DeliveryRef, Scheduler } from '../ledger/scheduler.ts';
import { TOKEN_MARGIN_MS } from './token-margin.ts';
import type { ForwardQueues } from './queue.ts';
import { reconcile } from './reconciler.ts';

/** The Scheduler the rest of the relay sees: BullMQ queues for new work, the reconciler for "look again". */
export class ForwardScheduler implements Scheduler {
  constructor(
    private readonly ledger: Ledger,
    private readonly queues: ForwardQueues,
    private readonly log: Logger,
    private readonly tokenMarginMs = TOKEN_MARGIN_MS,
  ) {}

  async uploads(deliveries: DeliveryRef[]): Promise<void> {
    await this.queues.enqueueUploads(deliveries);
  }

  async account(accountId?: string): Promise<void> {
    try {
      await reconcile({ ledger: this.ledger, queues: this.queues }, { tokenMarginMs: this.tokenMarginMs, ...(accountId ? { accountId } : {}) });
    } catch (err) {
      // A hint only: the worker's periodic reconcile does the same a little later.
      this.log.warn({ err, accountId }, 'scheduling from the ledger failed; the next reconcile pass will do it');
    }
  }
}
