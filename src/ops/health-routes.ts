import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { errorBody } from '../http/errors.ts';
import { ErrorResponse } from '../http/schemas.ts';
import type { Services } from '../services.ts';

const CHECK_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  return Promise.race([
    promise,
    new Promise<T>((_, reject) =>
      setTimeout(() => reject(new Error(`${what} did not answer in ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS).unref(),
    ),
  ]);
}

const Check = Type.Union([Type.Literal('up'), Type.Literal('down')]);
const Checks = Type.Object({ postgres: Check, redis: Check, spool: Check });
const NotReady = Type.Object({ ...ErrorResponse.properties, checks: Type.Optional(Checks) }, { description: 'Which dependency is down (details are in the log)' });

export default async function healthRoutes(app: FastifyInstance, { services }: { services: Services }) {
  app.get(
    '/healthz',
    { schema: { summary: 'The process is alive', tags: ['operations'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Postgres, Redis and the spool are all usable',
        tags: ['operations'],
        response: { 200: Type.Object({ status: Type.Literal('ready'), demoMode: Type.Boolean() }), 503: NotReady },
      },
    },
    async (request, reply) => {
      const probes: Record<keyof typeof Checks.static, () => Promise<unknown>> = {
        postgres: () => services.db.$queryRaw`SELECT 1`,
        redis: () => services.redis.ping(),
        spool: () => services.blobs.probeWritable(),
      };
      const checks = { postgres: 'up', redis: 'up', spool: 'up' } as typeof Checks.static;
      await Promise.all(
        Object.entries(probes).map(([name, probe]) =>
          withTimeout(probe(), name).catch((err: unknown) => {
            checks[name as keyof typeof checks] = 'down';
            // The driver's text names hosts, paths and users: it belongs in the log, not in an unauthenticated answer.
            request.log.warn({ err, dependency: name }, 'readiness check failed');
          }),
        ),
      );
      const down = Object.keys(checks).filter((name) => checks[name as keyof typeof checks] === 'down');
      if (down.length > 0) {
        return reply.code(503).send({ ...errorBody(503, 'not_ready', `Not ready: ${down.sort().join(', ')} unavailable`), checks });
      }
      return { status: 'ready' as const, demoMode: services.config.demoMode };
    },
  );
}
