import type { FastifyInstance, RouteHandlerMethod } from 'fastify';
import type { InflightUploads } from '../intake/inflight.ts';
import { countUploads } from '../intake/metrics.ts';
import type { Services } from '../services.ts';
import { requireDavDevice } from './auth.ts';
import { installErrorHandler } from './errors.ts';
import { moveHandler } from './move.ts';
import { DAV_ROOT } from './paths.ts';
import { putHandler } from './put.ts';
import { DAV_METHODS, getHandler, optionsHandler, propfindHandler } from './read.ts';
import { deleteHandler, lockHandler, mkcolHandler, proppatchHandler, unlockHandler } from './tree.ts';

/**
 * The WebDAV door at /dav/ for the backup apps phones already have (PhotoSync, FolderSync, rclone): a small subset
 * of RFC 4918 on Fastify, in its own encapsulated scope (its own body handling and error answers), feeding the very
 * same ingest pipeline as the native API. Each device sees only its own tree; HTTP Basic, password = device token.
 */
export default async function webdav(app: FastifyInstance, { services, uploads }: { services: Services; uploads: InflightUploads }) {
  for (const method of ['PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK']) {
    if (!app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody: true });
  }
  // Bodies are read by the handlers: PUT streams into the blob store (never buffered), XML bodies are read with a
  // small cap, anything else is drained. So the parser accepts every content type and leaves the stream alone.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  installErrorHandler(app);
  app.addHook('onRequest', requireDavDevice(services));

  davRoutes(app, services, uploads, [DAV_ROOT, `${DAV_ROOT}/*`]);
}

/** The WebDAV handlers, by method: one set for every mount (/dav/ here, the Nextcloud door's files tree). */
export function davHandlers(services: Services, uploads: InflightUploads): Record<string, RouteHandlerMethod> {
  return {
    OPTIONS: optionsHandler(),
    PROPFIND: propfindHandler(services, uploads),
    PROPPATCH: proppatchHandler(services, uploads),
    MKCOL: mkcolHandler(services, uploads),
    GET: getHandler(services, 'GET'),
    HEAD: getHandler(services, 'HEAD'),
    PUT: putHandler(services, uploads),
    DELETE: deleteHandler(services),
    COPY: moveHandler(services, 'COPY'),
    MOVE: moveHandler(services, 'MOVE'),
    LOCK: lockHandler(uploads),
    UNLOCK: unlockHandler(),
  };
}

/** Route every WebDAV method at `urls` to the handlers; the scope has set up body handling, auth and the mount. */
export function davRoutes(app: FastifyInstance, services: Services, uploads: InflightUploads, urls: string[]): void {
  const handlers = davHandlers(services, uploads);
  for (const method of DAV_METHODS) {
    for (const url of urls) {
      // Not part of the JSON API's OpenAPI document.
      app.route({
        method,
        url,
        handler: handlers[method]!,
        // A PUT is an upload: counted with every door's in the upload series.
        ...(method === 'PUT' ? { onResponse: countUploads(services.metrics) } : {}),
        exposeHeadRoute: false,
        schema: { hide: true },
      });
    }
  }
}
