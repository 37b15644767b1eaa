import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type HTTPMethods } from 'fastify';
import errorHandler from '../http/error-handler.ts';
import { requireAdmin } from '../http/auth.ts';
import type { Services } from '../services.ts';

export const BOARD_PATH = '/admin/queues';

const METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

/**
 * Bull Board for the forwarding queues, behind the admin token. Browsers cannot send a bearer token to a page,
 * so it also accepts HTTP Basic with the admin token as the password (any user name).
 *
 * The board's modules (@bull-board/*, with lodash, ejs and @fastify/view: ~3.5 MB of live heap, ~7 MB of the API
 * process's RSS) load on its first request, not at start: a household opens it rarely, and the API process is held
 * to 150 MB with 8 uploads in flight (bench c). Fastify takes no routes once it listens, so the board is a Fastify
 * instance of its own that never listens: after the admin check, this plugin's catch-all routes hand it the raw
 * request, its body unread.
 */
export default async function queueBoard(app: FastifyInstance, { services }: { services: Services }) {
  let board: Promise<FastifyInstance> | undefined;
  app.addHook('onRequest', requireAdmin(services, { basic: true }));
  // The board reads bodies itself (its actions send JSON): here every body is left in the request, unread.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

  const handOver = async (request: FastifyRequest, reply: FastifyReply) => {
    board ??= openBoard(services).catch((err: unknown) => {
      board = undefined; // the next request tries again
      throw err;
    });
    const inner = await board;
    reply.hijack();
    inner.routing(request.raw, reply.raw);
  };
  for (const url of [BOARD_PATH, `${BOARD_PATH}/*`]) app.route({ method: METHODS, url, schema: { hide: true }, handler: handOver });
}

async function openBoard(services: Services): Promise<FastifyInstance> {
  const [{ createBullBoard }, { BullMQAdapter }, { FastifyAdapter }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/fastify'),
  ]);
  const adapter = new FastifyAdapter();
  createBullBoard({
    queues: [new BullMQAdapter(services.queues.uploads, { readOnlyMode: false }), new BullMQAdapter(services.queues.creates)],
    serverAdapter: adapter,
  });
  adapter.setBasePath(BOARD_PATH);
  // The outer app logged the request already; errors and unknown paths answer in the contract's shape.
  const inner = Fastify({ loggerInstance: services.log, disableRequestLogging: true }) as unknown as FastifyInstance;
  await inner.register(errorHandler);
  await inner.register(adapter.registerPlugin() as never, { prefix: BOARD_PATH });
  await inner.ready();
  return inner;
}
