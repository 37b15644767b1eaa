import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { requireAdmin } from './http/auth.ts';
import errorHandler, { frameworkErrors } from './http/error-handler.ts';
import { ApiError, errorBody } from './http/errors.ts';
import type { Services } from './services.ts';
import healthRoutes from './ops/health-routes.ts';
import deviceRoutes from './devices/device-routes.ts';
import assetRoutes from './assets/asset-routes.ts';
import uploadRoute from './ingest/upload-route.ts';
import { InflightUploads } from './intake/inflight.ts';
import accountRoutes from './admin/account-routes.ts';
import openapi from './http/openapi.ts';
import googleRoutes from './admin/google-routes.ts';
import callbackRoute from './google/callback-route.ts';
import adminDeviceRoutes from './admin/device-routes.ts';
import adminAssetRoutes from './admin/asset-routes.ts';
import queueBoard from './admin/queue-board.ts';
import helmet from '@fastify/helmet';
import metricsRoutes from './ops/metrics-routes.ts';
import webdav from './webdav/plugin.ts';
import { DAV_ROOT } from './webdav/paths.ts';
import { requestDeadline } from './http/request-deadline.ts';
import { warnUntrustedProxy } from './http/proxy-warning.ts';
import { lazySerializers } from './http/lazy-serializers.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route's body is a photo or video: no total deadline (REQUEST_TIMEOUT_SECONDS), it may take as long as it flows. */
    upload?: boolean;
  }
}

// The doors whose bodies are photos and videos, until each declares `config: { upload: true }` itself: the native
// upload, WebDAV PUT, and the resumable and Nextcloud doors of the contract.
const UPLOAD_DOORS: Array<{ methods: string[]; url: (url: string) => boolean }> = [
  { methods: ['POST'], url: (url) => url === '/api/v1/assets' },
  { methods: ['POST', 'PATCH'], url: (url) => url === '/api/v1/uploads' || url.startsWith('/api/v1/uploads/') },
  { methods: ['PUT'], url: (url) => url.startsWith(DAV_ROOT) || url.startsWith('/remote.php/') },
];

function isUpload(request: FastifyRequest): boolean {
  if (request.routeOptions.config?.upload === true) return true;
  const url = request.routeOptions.url ?? '';
  return UPLOAD_DOORS.some((door) => door.methods.includes(request.method) && door.url(url));
}
import nextcloud from './nextcloud/plugin.ts';
import resumableRoutes from './resumable/plugin.ts';
import webApp from './web/plugin.ts';

export interface AppHandle {
  app: FastifyInstance;
  /** Flip before close(): new requests get 503 not_ready while in-flight ones finish (uploads: within half the grace period). */
  beginShutdown(): void;
}

export async function buildApp(services: Services): Promise<AppHandle> {
  const app: FastifyInstance = Fastify({
    loggerInstance: services.log,
    // Explicit timeouts: a stalled client is cut after 2 minutes of silence, but a large upload that keeps
    // flowing may take as long as it needs (requestTimeout 0); every other request has a deadline of its own
    // (requestDeadline below, REQUEST_TIMEOUT_SECONDS).
    connectionTimeout: 120_000,
    keepAliveTimeout: 72_000,
    requestTimeout: 0,
    bodyLimit: 1024 * 1024,
    return503OnClosing: false,
    trustProxy: services.config.trustProxy,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true } },
    schemaController: { compilersFactory: { buildSerializer: lazySerializers() } },
    frameworkErrors,
    clientErrorHandler(err, socket) {
      // Malformed HTTP (oversized headers, bad framing) still gets the contract's JSON shape.
      const code = (err as { code?: string }).code;
      const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      // The connection ended before the declared Content-Length arrived: the contract calls that incomplete_upload.
      const body = JSON.stringify(
        code === 'HPE_INVALID_EOF_STATE'
          ? errorBody(400, 'incomplete_upload', 'The request ended before the whole body arrived')
          : errorBody(status, 'validation_failed', 'Malformed HTTP request'),
      );
      if (socket.writable) {
        socket.end(
          `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
        );
      } else socket.destroy();
    },
  }) as unknown as FastifyInstance;
  app.server.headersTimeout = 30_000;
  // Beyond this many open connections, new ones are closed on arrival: a flood cannot exhaust file descriptors.
  app.server.maxConnections = services.config.maxConnections;
  app.addHook('onRequest', requestDeadline(services.config.requestTimeoutMs, isUpload));
  app.addHook('onRequest', warnUntrustedProxy(services.config.trustProxy, services.log));

  let closing = false;
  app.addHook('onRequest', async (_request, reply) => {
    if (closing) {
      reply.header('connection', 'close');
      throw new ApiError('not_ready', 'The relay is shutting down');
    }
  });
  // Requests in flight when the shutdown began close their connection once answered: close() only drops the
  // connections idle at that moment, and a kept-alive one would hold the server open until the grace period ran out.
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });
  // One registry for the uploads of every door: a shutdown stops them all, and each is held to the idle timeout.
  const uploads = new InflightUploads(services.config.uploadIdleMs);

  await app.register(errorHandler);
  await app.register(openapi, { publicUrl: services.config.publicUrl });
  await app.register(rateLimit, {
    global: false,
    redis: services.redis,
    nameSpace: `${services.config.redisPrefix}:rate-limit:`,
    errorResponseBuilder: (_request, context) => new ApiError('rate_limited', `Too many requests; retry in ${context.after}`),
    // Redis away: let requests through rather than answer 500; the limit is a courtesy, not a dependency.
    skipOnError: true,
  });

  // A JSON API plus two admin UIs (OpenAPI, Bull Board) with inline scripts: the usual headers, no CSP.
  await app.register(helmet, { contentSecurityPolicy: false, crossOriginEmbedderPolicy: false });
  await app.register(healthRoutes, { services });
  await app.register(metricsRoutes, { services });
  await app.register(queueBoard, { services });
  await app.register(callbackRoute, { services });
  await app.register(webdav, { services, uploads });
  await app.register(nextcloud, { services, uploads });
  // The pages set their own strict CSP (src/web/html.ts); the helmet registration above leaves CSP to them.
  await app.register(webApp, { services });
  await app.register(
    async (api) => {
      await api.register(deviceRoutes, { services });
      await api.register(assetRoutes, { services });
      await api.register(uploadRoute, { services, uploads });
      await api.register(resumableRoutes, { services, uploads });
      await api.register(
        async (admin) => {
          admin.addHook('onRequest', requireAdmin(services));
          await admin.register(accountRoutes, { services });
          await admin.register(googleRoutes, { services });
          await admin.register(adminDeviceRoutes, { services });
          await admin.register(adminAssetRoutes, { services });
        },
        { prefix: '/admin' },
      );
    },
    { prefix: '/api/v1' },
  );

  return {
    app,
    beginShutdown() {
      closing = true;
      // Uploads in flight get half the grace period to finish; then they are stopped (503, temp file deleted), so the
      // process exits within its grace period and leaves no half-written file behind.
      setTimeout(() => uploads.stopAll(), services.config.shutdownGraceMs / 2).unref();
    },
  };
}
