import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/** The route schemas are the validation and the API document: /docs serves the UI, /docs/json the OpenAPI 3 document. */
export default fp(
  async function openapi(app: FastifyInstance, { publicUrl }: { publicUrl: string }) {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Photo Relay API',
          version: '1.0.0',
          description: 'Phones upload; the relay forwards each photo exactly once to Google Photos.',
        },
        servers: [{ url: publicUrl }],
        components: {
          securitySchemes: {
            deviceToken: { type: 'http', scheme: 'bearer', description: 'Device token from POST /api/v1/pair' },
            adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
          },
        },
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  },
  { name: 'openapi' },
);
