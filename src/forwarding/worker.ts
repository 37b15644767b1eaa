import { Worker } from 'bullmq';
import { redisConnection, type Services } from '../services.ts';
import { FORWARD_QUEUE, type DeliverJob } from './queue.ts';

/**
 * Placeholder until forwarding lands (issue 3): takes delivery jobs and leaves their rows pending,
 * so the hand-off from ingest is exercised end to end.
 */
export async function startForwardWorker(services: Services): Promise<{ close(): Promise<void> }> {
  const connection = redisConnection(services.config, { worker: true });
  const worker = new Worker<DeliverJob>(
    FORWARD_QUEUE,
    async (job) => {
      services.log.debug({ deliveryId: job.data.deliveryId }, 'delivery job received (forwarding not implemented yet)');
    },
    { connection, prefix: services.config.redisPrefix, concurrency: 4 },
  );
  worker.on('error', (err) => services.log.error({ err }, 'forward worker error'));
  await worker.waitUntilReady();
  return {
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
