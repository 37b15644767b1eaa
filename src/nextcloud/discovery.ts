import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { device } from '../http/auth.ts';
import type { Services } from '../services.ts';
import { ignoreBody } from '../webdav/body.ts';
import { sendOcs, type OcsVersion } from './ocs.ts';
import { userIdOf } from './users.ts';

/** The Nextcloud release we answer as: Android warns below 31, iOS enables Live Photos from 28. */
export const VERSION = { major: 31, minor: 0, micro: 0, string: '31.0.0', edition: '', extendedSupport: false };

export function statusBody() {
  return {
    installed: true,
    maintenance: false,
    needsDbUpgrade: false,
    version: `${VERSION.string}.0`,
    versionstring: VERSION.string,
    edition: '',
    productname: 'Photo Relay',
    extendedSupport: false,
  };
}

/** What the relay can do, in Nextcloud's terms: chunking v2 ("1.0"), SHA-256 upload checksums, no sharing. */
export function capabilities() {
  return {
    version: VERSION,
    capabilities: {
      core: { pollinterval: 60, 'webdav-root': 'remote.php/webdav' },
      dav: { chunking: '1.0' },
      files: { bigfilechunking: true, undelete: false, versioning: false, blacklisted_files: ['.htaccess'] },
      checksums: { supportedTypes: ['SHA256'], preferredUploadType: 'SHA256' },
    },
  };
}

/** The public discovery answers (no credentials) and the OCS user and capabilities (a device token). */
export function discoveryRoutes(app: FastifyInstance, services: Services): void {
  const status = async (request: FastifyRequest, reply: FastifyReply) => {
    ignoreBody(request);
    return reply.code(200).type('application/json; charset=utf-8').send(statusBody());
  };
  for (const url of ['/status.php', '/nextcloud/status.php'])
    app.get(url, { schema: { summary: 'Nextcloud server status (discovery by the Nextcloud apps)', tags: ['nextcloud'] } }, status);

  // The iOS app asks this after any 401/403, and erases the account and its local data if told to: never say so.
  const wipe = async (request: FastifyRequest, reply: FastifyReply) => {
    ignoreBody(request);
    return reply.code(200).type('application/json; charset=utf-8').send({ wipe: false });
  };
  for (const method of ['GET', 'POST'] as const)
    app.route({
      method,
      url: '/index.php/core/wipe/check',
      handler: wipe,
      schema: { summary: 'Nextcloud remote wipe check: never wipe', tags: ['nextcloud'] },
    });

  for (const version of [1, 2] as OcsVersion[]) {
    app.get(
      `/ocs/v${version}.php/cloud/user`,
      { schema: { summary: `OCS v${version}: the signed-in device as a Nextcloud user`, tags: ['nextcloud'] } },
      async (request, reply) => {
        const dev = device(request);
        const row = await services.db.device.findUnique({ where: { id: dev.id }, select: { name: true } });
        const free = await services.blobs.freeBytes().catch(() => 0);
        return sendOcs(request, reply, version, {
          enabled: true,
          id: userIdOf(dev),
          'display-name': row?.name ?? userIdOf(dev),
          displayname: row?.name ?? userIdOf(dev),
          email: null,
          groups: [],
          language: 'en',
          locale: '',
          // -3: unlimited, as Nextcloud says it; free is the spool's.
          quota: { free, used: 0, total: free, relative: 0, quota: -3 },
        });
      },
    );
    app.get(
      `/ocs/v${version}.php/cloud/capabilities`,
      { schema: { summary: `OCS v${version}: capabilities (chunking v2, SHA-256 checksums)`, tags: ['nextcloud'] } },
      async (request, reply) => sendOcs(request, reply, version, capabilities()),
    );
  }
}
