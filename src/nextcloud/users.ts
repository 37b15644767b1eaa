import type { FastifyRequest } from 'fastify';
import type { AuthedDevice } from '../http/auth.ts';
import { notFound } from '../webdav/errors.ts';
import type { DavMount } from '../webdav/paths.ts';

export const FILES_ROOT = '/remote.php/dav/files';
export const UPLOADS_ROOT = '/remote.php/dav/uploads';
export const LEGACY_ROOT = '/remote.php/webdav';

/**
 * The Nextcloud user id of a device: the segment of every DAV path its app builds (from cloud/user's data.id). The
 * device id: URL-safe, never reused, unchanged by a rename.
 */
export function userIdOf(device: AuthedDevice): string {
  return device.id;
}

/** The user name the client sent with its token (informational: the token alone names the device). */
export function basicUserOf(request: FastifyRequest): string | null {
  const match = request.headers.authorization?.match(/^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(0, colon);
}

/**
 * Whether a user segment of a path is this device's. Its own id always is; so is the login name it sent with this
 * very request (a client that could not read cloud/user builds its paths from the login name). Anything else, such
 * as another device's id, is not found: a device reaches only its own tree, whatever it names.
 */
export function checkUser(request: FastifyRequest, device: AuthedDevice, segment: string): void {
  let user: string;
  try {
    user = decodeURIComponent(segment);
  } catch {
    throw notFound();
  }
  if (user.toLowerCase() === userIdOf(device).toLowerCase()) return;
  if (user.length > 0 && user === basicUserOf(request)) return;
  throw notFound('No such user');
}

/** The mount of a request under /remote.php/dav/files/<user>/ or /remote.php/webdav/, its user checked. */
export function filesMountOf(request: FastifyRequest, device: AuthedDevice): DavMount | null {
  const end = request.url.search(/[?#]/);
  const url = end < 0 ? request.url : request.url.slice(0, end);
  if (url === LEGACY_ROOT || url.startsWith(`${LEGACY_ROOT}/`)) return { root: LEGACY_ROOT, nextcloud: true };
  if (!url.startsWith(`${FILES_ROOT}/`)) return null;
  const segment = url.slice(FILES_ROOT.length + 1).split('/')[0]!;
  checkUser(request, device, segment);
  return { root: `${FILES_ROOT}/${segment}`, nextcloud: true };
}
