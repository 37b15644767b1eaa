import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { requireAdmin } from '../http/auth.ts';
import { errorResponses } from '../http/schemas.ts';
import type { Services } from '../services.ts';

/** GET /metrics, behind the admin token. (The upload series are counted by each door's upload route: src/intake/metrics.ts.) */
export default fp(
  async function metricsRoutes(app: FastifyInstance, { services }: { services: Services }) {
    const { metrics } = services;
    app.get(
      '/metrics',
      {
        // The series name accounts and show the household's activity: admin only. Prometheus sends the token as
        // `authorization.credentials` (Bearer) or `basic_auth.password`.
        onRequest: requireAdmin(services, { basic: true }),
        schema: {
          summary: 'Prometheus metrics (admin token, as Bearer or as the Basic password)',
          tags: ['operations'],
          produces: ['text/plain'],
          response: { 200: { type: 'string' }, ...errorResponses(401, 403, 429) },
        },
      },
      async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    );
  },
  { name: 'metrics' },
);
