import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Services } from '../services.ts';

/** GET /metrics. (The upload series are counted by each door's upload route: src/intake/metrics.ts.) */
export default fp(
  async function metricsRoutes(app: FastifyInstance, { services }: { services: Services }) {
    const { metrics } = services;
    app.get(
      '/metrics',
      { schema: { summary: 'Prometheus metrics', tags: ['operations'], produces: ['text/plain'], response: { 200: { type: 'string' } } } },
      async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    );
  },
  { name: 'metrics' },
);
