import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { device } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import type { InflightUploads } from '../intake/inflight.ts';
import { countUploads } from '../intake/metrics.ts';
import type { Services } from '../services.ts';
import { requireDavDevice } from '../webdav/auth.ts';
import { ignoreBody } from '../webdav/body.ts';
import { conflict, installErrorHandler } from '../webdav/errors.ts';
import { davRoutes } from '../webdav/plugin.ts';
import { ChunkStore } from './chunk-store.ts';
import { chunkHandlers } from './chunks.ts';
import { discoveryRoutes } from './discovery.ts';
import { loginFlowRoutes, PUBLIC_LOGIN_PATHS } from './login-flow.ts';
import { FILES_ROOT, filesMountOf, LEGACY_ROOT, UPLOADS_ROOT } from './users.ts';

const PUBLIC_PATHS = new Set(['/status.php', '/nextcloud/status.php', '/index.php/core/wipe/check', ...PUBLIC_LOGIN_PATHS]);

/**
 * A minimal Nextcloud server for the free Nextcloud apps' auto upload (and nextcloudcmd): discovery, login (a QR
 * code or Login Flow v2), the device's WebDAV view as its files (the same tree /dav/ shows, by the same handlers)
 * and chunked upload v2, all through the one intake. A valid device token is never answered 401 or 403 here: the
 * iOS app deletes the account on either.
 */
export default async function nextcloud(app: FastifyInstance, { services, uploads }: { services: Services; uploads: InflightUploads }) {
  for (const method of ['PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK']) {
    if (!app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody: true });
  }
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  installErrorHandler(app, (err, request) => {
    // Refusals WebDAV answers with 403 (the root, a move into itself) must not read as "token rejected".
    if (request.device && err instanceof ApiError && (err.statusCode === 403 || err.statusCode === 401)) return conflict(err.message);
    return err;
  });
  const auth = requireDavDevice(services);
  app.addHook('onRequest', async (request) => {
    const end = request.url.search(/[?#]/);
    const url = end < 0 ? request.url : request.url.slice(0, end);
    if (PUBLIC_PATHS.has(url)) return;
    await auth(request);
    if (!request.device) return; // OPTIONS without credentials
    const mount = filesMountOf(request, request.device);
    if (mount) request.davMount = mount;
  });

  discoveryRoutes(app, services);
  loginFlowRoutes(app, services, uploads);

  // The DAV root: an unauthenticated HEAD is how Android learns the server wants Basic (401 + WWW-Authenticate).
  const davRoot = async (request: FastifyRequest, reply: FastifyReply) => {
    ignoreBody(request);
    // Only OPTIONS gets here without credentials (the auth hook challenges everything else).
    if (!request.device) return reply.code(200).header('dav', '1, 2').send();
    device(request);
    return reply.code(200).send();
  };
  for (const method of ['HEAD', 'GET', 'PROPFIND', 'OPTIONS']) {
    for (const url of ['/remote.php/dav', '/remote.php/dav/'])
      app.route({ method, url, handler: davRoot, exposeHeadRoute: false, schema: { hide: true } });
  }

  davRoutes(app, services, uploads, [`${FILES_ROOT}/:user`, `${FILES_ROOT}/:user/*`, LEGACY_ROOT, `${LEGACY_ROOT}/*`]);

  const store = new ChunkStore(services.config.spoolDir);
  const chunks = chunkHandlers(services, uploads, store);
  const folder = `${UPLOADS_ROOT}/:user/:id`;
  const route = (
    method: string,
    url: string,
    handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
    counted = false,
  ) =>
    app.route({
      method,
      url,
      handler,
      exposeHeadRoute: false,
      schema: { hide: true },
      ...(counted ? { onResponse: countUploads(services.metrics) } : {}),
    });
  // The folder with or without its trailing slash: clients differ.
  for (const url of [folder, `${folder}/`]) {
    route('MKCOL', url, chunks.mkcol);
    route('PROPFIND', url, chunks.propfind);
    route('HEAD', url, chunks.head);
    route('DELETE', url, chunks.del);
  }
  route('PUT', `${folder}/:chunk`, chunks.putChunk);
  route('MOVE', `${folder}/:chunk`, chunks.assemble, true);
  route('DELETE', `${folder}/:chunk`, chunks.del);
}
