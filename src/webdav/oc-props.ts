import { createHash } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { TreePath } from './paths.ts';
import type { Entry } from './view-store.ts';
import { escapeXml } from './xml.ts';

export const OC_NS = 'http://owncloud.org/ns';
export const NC_NS = 'http://nextcloud.org/ns';

// Nextcloud's file ids are "<fileid, 8+ digits><instance id>"; the instance id only has to be constant.
const INSTANCE_ID = 'ocphotorelay';

/**
 * A file id for a path of a device's tree: numeric (Android parses oc:fileid as a number), stable while the entry
 * stays where it is, and distinct for two names holding the same content (a sync client takes one id in two places
 * for a move). Derived, not stored: 52 bits of a hash of device and path, within JavaScript's exact integers.
 */
export function fileIdOf(deviceId: string, path: TreePath): number {
  return parseInt(createHash('sha256').update(`${deviceId}\u0000${path}`).digest('hex').slice(0, 13), 16);
}

export function ocIdOf(deviceId: string, path: TreePath): string {
  return `${String(fileIdOf(deviceId, path)).padStart(8, '0')}${INSTANCE_ID}`;
}

/**
 * A folder's ETag on the Nextcloud door, where sync clients need one on every entry (nextcloudcmd fails an entry
 * without): its last change. Files keep the content hash.
 */
export function collectionEtagOf(entry: Entry): string {
  return `"${entry.updatedAt.getTime().toString(16)}"`;
}

/** The headers the Nextcloud clients read from the answer to an upload (PUT, or the MOVE that assembles chunks). */
export function uploadAnswerHeaders(reply: FastifyReply, deviceId: string, path: TreePath, sha256: string): void {
  reply.header('etag', `"${sha256}"`).header('oc-etag', `"${sha256}"`).header('oc-fileid', ocIdOf(deviceId, path));
}

// Files: read, share (advertised so apps show no warning), delete, rename, move, write. Folders also create.
const FILE_PERMISSIONS = 'RGDNVW';
const FOLDER_PERMISSIONS = 'RGDNVCK';

/** The ownCloud/Nextcloud properties of an entry, keyed "<namespace>\0<name>", rendered with the oc:/nc: prefixes. */
export function ocProps(deviceId: string, entry: Entry): Map<string, string> {
  const props = new Map<string, string>();
  const collection = entry.kind === 'collection';
  const oc = (name: string, value: string) => props.set(`${OC_NS}\u0000${name}`, `<oc:${name}>${value}</oc:${name}>`);
  const nc = (name: string, value: string) => props.set(`${NC_NS}\u0000${name}`, `<nc:${name}>${value}</nc:${name}>`);
  oc('id', ocIdOf(deviceId, entry.path));
  oc('fileid', String(fileIdOf(deviceId, entry.path)));
  oc('permissions', collection ? FOLDER_PERMISSIONS : FILE_PERMISSIONS);
  oc('size', String(entry.size));
  oc('favorite', '0');
  oc('owner-id', escapeXml(deviceId));
  oc('share-types', '');
  oc('downloadURL', '');
  oc('dDC', '');
  oc('data-fingerprint', '');
  oc('checksums', collection || !entry.blobSha256 ? '' : `<oc:checksum>SHA256:${entry.blobSha256}</oc:checksum>`);
  nc('creation_time', String(Math.floor(entry.createdAt.getTime() / 1000)));
  nc('upload_time', String(Math.floor(entry.createdAt.getTime() / 1000)));
  nc('has-preview', 'false');
  nc('mount-type', '');
  nc('is-encrypted', '0');
  return props;
}
