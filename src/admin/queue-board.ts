import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../http/auth.ts';
import type { Services } from '../services.ts';

export const BOARD_PATH = '/admin/queues';

/**
 * Bull Board for the forwarding queues, behind the admin token. Browsers cannot send a bearer token to a page,
 * so it also accepts HTTP Basic with the admin token as the password (any user name).
 */
export default async function queueBoard(app: FastifyInstance, { services }: { services: Services }) {
  const adapter = new FastifyAdapter();
  createBullBoard({
    queues: [new BullMQAdapter(services.queues.uploads, { readOnlyMode: false }), new BullMQAdapter(services.queues.creates)],
    serverAdapter: adapter,
  });
  adapter.setBasePath(BOARD_PATH);

  app.addHook('onRequest', requireAdmin(services, { basic: true }));
  await app.register(adapter.registerPlugin() as never, { prefix: BOARD_PATH });
}
