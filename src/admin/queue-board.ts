import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sameSecret } from '../devices/tokens.ts';
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

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const token = presentedToken(request.headers.authorization);
    if (token && services.config.adminToken && sameSecret(token, services.config.adminToken)) return;
    await services.limits.auth.check(request.ip);
    if (token) await services.limits.auth.fail(request.ip);
    return reply
      .code(401)
      .header('www-authenticate', 'Basic realm="Photo Relay admin", charset="UTF-8"')
      .send({ statusCode: 401, code: 'unauthorized', error: 'Unauthorized', message: 'Admin token required (as Bearer, or as the Basic password)' });
  });
  await app.register(adapter.registerPlugin() as never, { prefix: BOARD_PATH });
}

function presentedToken(header: string | undefined): string | null {
  if (!header) return null;
  const [scheme, value] = header.split(/\s+/, 2);
  if (!value) return null;
  if (scheme?.toLowerCase() === 'bearer') return value;
  if (scheme?.toLowerCase() !== 'basic') return null;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) : null;
}
