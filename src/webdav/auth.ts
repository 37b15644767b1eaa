import type { FastifyRequest } from 'fastify';
import { authenticateDeviceToken, basicPassword } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import type { Services } from '../services.ts';

/**
 * The device token a request carries: HTTP Basic with the token as the password (the user name is informational:
 * apps insist on one), or a bearer token as on the native API. Null when the request carries no credentials.
 */
export function credentialOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (!header) return null;
  if (/^Basic\s/i.test(header)) return basicPassword(request) ?? '';
  const bearer = header.match(/^Bearer\s+(\S+)\s*$/i);
  return bearer ? bearer[1]! : '';
}

/**
 * onRequest hook: runs before any body is read, so an unauthenticated upload never reaches the disk. A request with
 * no credentials is answered with the challenge and does not count as a failure (WebDAV clients commonly ask first
 * and authenticate on the 401); wrong credentials count against the client like a wrong bearer token.
 * OPTIONS without credentials is answered (it reveals nothing), as some clients probe with it before logging in.
 */
export function requireDavDevice(services: Services) {
  return async function davAuth(request: FastifyRequest): Promise<void> {
    const token = credentialOf(request);
    if (token === null) {
      if (request.method === 'OPTIONS') return;
      throw new ApiError('unauthorized', 'Credentials required: the password is a device token');
    }
    await services.limits.auth.verifyFirst(request.ip, ['unauthorized'], () => authenticateDeviceToken(services, request, token));
  };
}
