import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { requireAdmin } from '../http/auth.ts';
import { errorResponses } from '../http/schemas.ts';
import type { Services } from '../services.ts';

const UPLOAD_ROUTE = '/api/v1/assets';

/** GET /metrics (behind the admin token), and the upload series observed as answers leave. */
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
