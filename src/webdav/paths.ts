import type { FastifyRequest } from 'fastify';
import { badRequest } from './errors.ts';

/** Where the WebDAV tree is mounted. Each device sees its own tree there; hrefs in answers are absolute paths under it. */
export const DAV_ROOT = '/dav';
export const ROOT = '/';

/**
 * Where a request's tree is mounted, and in which dialect it is answered: /dav/ plainly, or the Nextcloud door's
 * /remote.php/dav/files/<user>/ (and /remote.php/webdav/) with the ownCloud/Nextcloud properties and headers its
 * clients require. One tree either way: the mount only changes the URLs and the extra properties.
 */
export interface DavMount {
  /** The URL prefix of the tree, without a trailing slash. */
  root: string;
  nextcloud: boolean;
}

export const DAV_MOUNT: DavMount = { root: DAV_ROOT, nextcloud: false };

declare module 'fastify' {
  interface FastifyRequest {
    davMount?: DavMount;
  }
}

export function mountOf(request: FastifyRequest): DavMount {
  return request.davMount ?? DAV_MOUNT;
}

/** The tree path a request names, under its mount. */
export function pathOfRequest(request: FastifyRequest): TreePath {
  return pathOfUrl(request.url, mountOf(request).root);
}

const MAX_SEGMENT_CHARS = 255;
/** The longest path a tree holds, in UTF-8 bytes (the column holds 1024 characters: bytes are the stricter bound). */
export const MAX_PATH_BYTES = 1024;
// Control characters, both slashes: none has a place in a file name we pass on (fileName ends up in Google Photos).
const FORBIDDEN_IN_SEGMENT = /[\u0000-\u001f\u007f/\\]/;

/**
 * A normalised path in a device's tree: "/" for the root, else "/a/b" (no trailing slash, no empty, "." or ".."
 * segment). Paths are names in a table, never file system paths: content lives under its hash.
 */
export type TreePath = string;

/**
 * The tree path a request URL names. Segments are percent-decoded one by one (so an encoded slash cannot forge a
 * separator) and refused when they are "." or ".." (raw or encoded), hold control characters or slashes, or are
 * too long: a traversal attempt is a malformed request, not a lookup.
 */
export function pathOfUrl(url: string, root = DAV_ROOT): TreePath {
  const end = url.search(/[?#]/);
  const raw = end < 0 ? url : url.slice(0, end);
  if (raw !== root && !raw.startsWith(`${root}/`)) throw badRequest(`WebDAV paths start with ${root}/`);
  return normalise(raw.slice(root.length));
}

/** The tree path a Destination header names: an absolute URI or an absolute path, which must lie under /dav/. */
export function pathOfDestination(header: string | string[] | undefined, root = DAV_ROOT): TreePath {
  if (typeof header !== 'string' || header.length === 0) throw badRequest('A Destination header is required');
  // Only the path matters: behind a proxy the host the client used may differ from ours.
  const withoutAuthority = header.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
  if (!withoutAuthority.startsWith('/')) throw badRequest('Destination must be an absolute URI or path');
  return pathOfUrl(withoutAuthority, root);
}

function normalise(rest: string): TreePath {
  const segments: string[] = [];
  for (const raw of rest.split('/')) {
    if (raw === '') continue;
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      throw badRequest('The path is not valid percent-encoded UTF-8');
    }
    if (segment === '.' || segment === '..') throw badRequest('Path segments "." and ".." are not allowed');
    if (FORBIDDEN_IN_SEGMENT.test(segment)) throw badRequest('Path segments must not contain control characters or slashes');
    if (segment.length > MAX_SEGMENT_CHARS) throw badRequest(`A file or folder name is longer than ${MAX_SEGMENT_CHARS} characters`);
    segments.push(segment);
  }
  const path = `/${segments.join('/')}`;
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) throw badRequest(`The path is longer than ${MAX_PATH_BYTES} bytes`);
  return path;
}

export function parentOf(path: TreePath): TreePath {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? ROOT : path.slice(0, cut);
}

export function baseName(path: TreePath): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The proper ancestors of a path, outermost first, without the root: "/a/b/c" → ["/a", "/a/b"]. */
export function ancestorsOf(path: TreePath): TreePath[] {
  const out: TreePath[] = [];
  for (let p = parentOf(path); p !== ROOT; p = parentOf(p)) out.unshift(p);
  return out;
}

/** True when `path` is `ancestor` or lies below it. */
export function isWithin(path: TreePath, ancestor: TreePath): boolean {
  return ancestor === ROOT || path === ancestor || path.startsWith(`${ancestor}/`);
}

/** `path` (within `from`) re-rooted at `to`. */
export function rebase(path: TreePath, from: TreePath, to: TreePath): TreePath {
  return path === from ? to : to + path.slice(from.length);
}

/**
 * Refuse a MOVE or COPY whose deepest entry would outgrow the path limit at its new place: checking the destination
 * alone let a folder's children reach the database too long for its column (a 500 instead of a refusal).
 * `longestBytes` is the byte length of the longest path at or below `from`.
 */
export function checkRebasedLength(longestBytes: number, from: TreePath, to: TreePath): void {
  const grown = longestBytes - Buffer.byteLength(from) + Buffer.byteLength(to);
  if (grown > MAX_PATH_BYTES) {
    throw badRequest(`At ${to}, a path below it would be ${grown} bytes long; paths are at most ${MAX_PATH_BYTES} bytes`);
  }
}

/** The href an answer gives for a path: absolute, each segment percent-encoded, collections with a trailing slash. */
export function hrefOf(path: TreePath, collection: boolean, root = DAV_ROOT): string {
  if (path === ROOT) return `${root}/`;
  const encoded = path
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
  return `${root}${encoded}${collection ? '/' : ''}`;
}

// Names apps give a file while its bytes are still on the way, before renaming it (MOVE) to its real name:
// "IMG_1.jpg.part" (Firefox, FolderSync), ".partial" (rclone's partial uploads: "IMG_1.jpg.a1b2c3d4.partial"),
// ".tmp"/".temp" (many sync apps), ".filepart" (WinSCP), ".crdownload" (Chromium), and hidden names
// (".IMG_1.jpg.tmp", ".~tmp~IMG_1.jpg", ".pending-…" and ".trashed-…" on Android, "._IMG_1.jpg" AppleDouble),
// plus Office's "~$" lock files.
const TEMP_SUFFIXES = ['.part', '.partial', '.tmp', '.temp', '.filepart', '.crdownload'];
const TEMP_PREFIXES = ['.', '~$'];

export function isTempName(name: string): boolean {
  const lower = name.toLowerCase();
  return TEMP_PREFIXES.some((p) => lower.startsWith(p)) || TEMP_SUFFIXES.some((s) => lower.endsWith(s));
}

/**
 * Only a file under its final name becomes an asset: its own name is not a temporary one and no folder above it is
 * hidden (a ".staging/" or ".thumbnails/" folder is a place for bytes on their way, not for photos).
 */
export function isFinalPath(path: TreePath): boolean {
  if (path === ROOT || isTempName(baseName(path))) return false;
  return !ancestorsOf(path).some((a) => baseName(a).startsWith('.'));
}

const MAX_DEVICE_ASSET_ID = 255;

/** The asset's deviceAssetId: the path within the device's tree ("DCIM/Camera/IMG_1.jpg"), its tail if very long. */
export function deviceAssetIdOf(path: TreePath): string {
  const chars = [...path.slice(1)];
  return chars.length <= MAX_DEVICE_ASSET_ID ? chars.join('') : chars.slice(-MAX_DEVICE_ASSET_ID).join('');
}
