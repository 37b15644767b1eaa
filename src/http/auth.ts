import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.ts';
import { DEVICE_TOKEN_PREFIX, hashToken, sameSecret } from '../devices/tokens.ts';
import type { Services } from '../services.ts';
import { TokenCache } from './token-cache.ts';

export interface AuthedDevice {
  id: string;
  accountId: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    device?: AuthedDevice;
  }
}

const SEEN_RESOLUTION_MS = 60_000;
// How long a token found valid is taken as valid without asking Postgres, where a registration checks it again.
const RECHECKED_TOKEN_TTL_MS = 10_000;

function bearer(request: FastifyRequest): string {
  const header = request.headers.authorization;
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  if (!match) throw new ApiError('unauthorized', 'Missing bearer token');
  return match[1]!;
}

/**
 * onRequest hook: runs before any body is read, so an unauthenticated upload never reaches the disk. With
 * `recheckedAtCommit` (a route whose every write goes through src/ledger/registration.ts, which refuses a revoked
 * device in the statement that commits), a token found valid is remembered for a few seconds (TokenCache).
 */
export function requireDevice(services: Services, options: { recheckedAtCommit?: boolean } = {}) {
  const cache = options.recheckedAtCommit ? new TokenCache<AuthedDevice>(RECHECKED_TOKEN_TTL_MS) : null;
  return async function deviceAuth(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    await services.limits.auth.verifyFirst(request.ip, ['unauthorized'], () => authenticateDevice(services, request, cache));
  };
}

async function authenticateDevice(services: Services, request: FastifyRequest, cache: TokenCache<AuthedDevice> | null): Promise<void> {
  const token = bearer(request);
  const key = cache && token.startsWith(DEVICE_TOKEN_PREFIX) ? hashToken(token) : null;
  const known = key ? cache!.get(key) : undefined;
  if (known) {
    request.device = known;
    return;
  }
  await authenticateDeviceToken(services, request, token);
  if (key) cache!.set(key, request.device!);
}

/** Attach the device a token names to the request (however the token arrived: bearer here, Basic on WebDAV). */
export async function authenticateDeviceToken(services: Services, request: FastifyRequest, token: string): Promise<void> {
  if (services.config.adminToken && token.length > 0 && sameSecret(token, services.config.adminToken)) {
    throw new ApiError('forbidden', 'The admin token does not work on device routes');
  }
  if (!token.startsWith(DEVICE_TOKEN_PREFIX)) throw new ApiError('unauthorized', 'Invalid device token');
  const device = await services.db.device.findUnique({
    where: { tokenHash: hashToken(token) },
    select: { id: true, accountId: true, revokedAt: true, lastSeenAt: true },
  });
  if (!device || device.revokedAt) throw new ApiError('unauthorized', 'Invalid or revoked device token');
  request.device = { id: device.id, accountId: device.accountId };
  const now = services.clock();
  if (!device.lastSeenAt || now.getTime() - device.lastSeenAt.getTime() > SEEN_RESOLUTION_MS) {
    await services.db.device.update({ where: { id: device.id }, data: { lastSeenAt: now } });
  }
}

/**
 * onRequest hook for admin routes. With `basic`, the admin token is also taken as the HTTP Basic password (any user
 * name), for clients that can only send Basic credentials (Prometheus, a browser); the 401 then carries the challenge.
 */
export function requireAdmin(services: Services, options: { basic?: boolean } = {}) {
  return async function adminAuth(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    try {
      await services.limits.auth.verifyFirst(request.ip, ['unauthorized'], () => authenticateAdmin(services, request, options.basic === true));
    } catch (err) {
      if (options.basic && err instanceof ApiError && err.code === 'unauthorized') reply.header('www-authenticate', ADMIN_CHALLENGE);
      throw err;
    }
  };
}

const ADMIN_CHALLENGE = 'Basic realm="Photo Relay admin", charset="UTF-8"';

/** The password of HTTP Basic credentials (the user name is informational everywhere here); null without them. */
export function basicPassword(request: FastifyRequest): string | null {
  const match = request.headers.authorization?.match(/^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

async function authenticateAdmin(services: Services, request: FastifyRequest, basic: boolean): Promise<void> {
  const token = (basic ? basicPassword(request) : null) ?? bearer(request);
  if (services.config.adminToken && sameSecret(token, services.config.adminToken)) return;
  if (token.startsWith(DEVICE_TOKEN_PREFIX)) {
    const device = await services.db.device.findUnique({ where: { tokenHash: hashToken(token) }, select: { revokedAt: true } });
    if (device && !device.revokedAt) throw new ApiError('forbidden', 'A device token does not work on admin routes');
  }
  throw new ApiError('unauthorized', 'Invalid admin token');
}

export function device(request: FastifyRequest): AuthedDevice {
  if (!request.device) throw new Error('device route without device auth');
  return request.device;
}
