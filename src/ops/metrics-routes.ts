import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Services } from '../services.ts';

const UPLOAD_ROUTE = '/api/v1/assets';

/** GET /metrics, and the upload series observed as answers leave. */
export default fp(
  async function metricsRoutes(app: FastifyInstance, { services }: { services: Services }) {
    const { metrics } = services;
    app.addHook('onResponse', async (request, reply) => {
      if (request.method !== 'POST' || request.routeOptions.url !== UPLOAD_ROUTE) return;
      const outcome = reply.statusCode === 201 ? 'created' : reply.statusCode === 200 ? 'duplicate' : String(reply.statusCode);
      metrics.uploads.inc({ outcome });
      metrics.ingestDuration.observe({ outcome }, reply.elapsedTime / 1000);
      const length = Number(request.headers['content-length']);
      if (Number.isFinite(length)) metrics.bytesReceived.inc(length);
    });
    app.get(
      '/metrics',
      { schema: { summary: 'Prometheus metrics', tags: ['operations'], produces: ['text/plain'], response: { 200: { type: 'string' } } } },
      async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
    );
  },
  { name: 'metrics' },
);
