import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../http/errors.ts';
import { errorResponses } from '../http/schemas.ts';
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
        response: { 200: Type.Object({ status: Type.Literal('ready'), demoMode: Type.Boolean() }), ...errorResponses(503) },
      },
    },
    async () => {
      const checks: Record<string, () => Promise<unknown>> = {
        postgres: () => services.db.$queryRaw`SELECT 1`,
        redis: () => services.redis.ping(),
        spool: () => services.blobs.probeWritable(),
      };
      const failures: string[] = [];
      await Promise.all(
        Object.entries(checks).map(([name, check]) =>
          withTimeout(check(), name).catch((err: Error) => failures.push(`${name}: ${err.message}`)),
        ),
      );
      if (failures.length > 0) throw new ApiError('not_ready', `Not ready: ${failures.sort().join('; ')}`);
      return { status: 'ready' as const, demoMode: services.config.demoMode };
    },
  );
}
