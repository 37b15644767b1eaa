import type { FastifyReply, FastifyRequest } from 'fastify';
import { device, type AuthedDevice } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import { registerUpload, storeBlob } from '../ingest/register.ts';
import { tap } from '../intake/body-tap.ts';
import type { TempBlob } from '../ingest/blob-store.ts';
import type { InflightUploads } from '../intake/inflight.ts';
import { intake, type IntakeUpload } from '../intake/intake.ts';
import type { Services } from '../services.ts';
import { declaredChecksum } from './body.ts';
import { badRequest, notAllowed } from './errors.ts';
import { metaOf } from './ledger.ts';
import { uploadAnswerHeaders } from './oc-props.ts';
import { isFinalPath, mountOf, pathOfRequest, ROOT, type TreePath } from './paths.ts';
import { parseMtime } from './props.ts';
import { checkAncestors, checkRoom, findEntry, putFile, withView } from './view-store.ts';

/**
 * PUT: the body streams into exactly the native API's ingest pipeline (BlobStore.receive: hash, content sniffing,
 * size limit, fsync), then, under the content lock, becomes a blob. A file under its final name becomes an asset in
 * the same step (registerUpload: dedupe, delivery, forwarding job); one under a temporary name is only stored, and
 * becomes an asset when it is renamed (MOVE). The view entry is written last: a crash before it leaves the client
 * without the file in its listing, so it sends it again and the registration dedupes. Any failure (cut connection,
 * too large, not media, checksum mismatch, no progress, shutdown) leaves no file, no row and no entry. The upload is
 * one of the in-flight uploads like the native API's, and is counted in the same series.
 */
export function putHandler(services: Services, uploads: InflightUploads) {
  const { config } = services;
  return async function put(request: FastifyRequest, reply: FastifyReply) {
    const dev = device(request);
    return intake(services, uploads, request, reply, async (upload) => {
      const path = pathOfRequest(request);
      // A range of a file is not the file: taking it as whole would store a fragment (RFC 9110 §14.5).
      if (request.headers['content-range'] !== undefined) throw badRequest('Partial PUT (Content-Range) is not supported');
      if (Number(request.headers['content-length']) > config.maxUploadBytes) {
        throw new ApiError('payload_too_large', `File exceeds the limit of ${config.maxUploadBytes} bytes`);
      }
      await checkFileTarget(services, dev.id, path);
      const dates = datesOf(request);
      const checksum = declaredChecksum(request.headers['oc-checksum']);
      const body = tap(request.raw, checksum?.hash);
      const temp = await upload.receive(body, config.maxUploadBytes);
      if (checksum && body.digest() !== checksum.expected) {
        throw new ApiError('hash_mismatch', 'The content does not match the declared OC-Checksum');
      }
      const created = await commitFile(services, dev, upload, temp, path, dates);
      answerUpload(request, reply, dev.id, path, temp.sha256, dates);
      return reply.code(created ? 201 : 204).send();
    });
  };
}

/** Refuse before storing anything when the name cannot take a file, or the view has no room for a new one. */
export async function checkFileTarget(services: Services, deviceId: string, path: TreePath): Promise<void> {
  if (path === ROOT) throw notAllowed('The root is a folder');
  const existing = await findEntry(services.db, deviceId, path);
  if (existing?.kind === 'collection') throw notAllowed(`${path} is a folder`);
  await checkAncestors(services.db, deviceId, path);
  if (!existing) await checkRoom(services.db, deviceId, services.config.davMaxEntries, 1);
}

export interface FileDates {
  /** X-OC-Mtime: the file's modification time, kept on the entry. */
  mtime: Date | null;
  /** X-OC-Ctime (Nextcloud apps): when the photo was created; preferred for the asset's fileCreatedAt. */
  ctime: Date | null;
}

/** The dates an upload declares, as integer or decimal Unix seconds (iOS sends "1717243200.0"). */
export function datesOf(request: FastifyRequest): FileDates {
  return { mtime: parseMtime(header(request, 'x-oc-mtime')), ctime: parseMtime(header(request, 'x-oc-ctime')) };
}

/**
 * A received file enters the ledger and the view: under its final name it becomes an asset (registerUpload: dedupe,
 * delivery, forwarding job); under a temporary name it is only stored, and becomes an asset when renamed (MOVE). The
 * view entry is written last: a crash before it leaves the client without the file in its listing, so it sends it
 * again and the registration dedupes. Returns whether the entry is new. Shared by PUT and the Nextcloud chunk MOVE.
 */
export async function commitFile(
  services: Services,
  dev: AuthedDevice,
  upload: IntakeUpload,
  temp: TempBlob,
  path: TreePath,
  dates: FileDates,
): Promise<boolean> {
  let assetId: string | null = null;
  if (isFinalPath(path)) {
    const registered = await registerUpload(services, dev, temp, metaOf(path, dates.ctime ?? dates.mtime));
    assetId = registered.assetId;
    upload.committed(registered.duplicate ? 'duplicate' : 'created');
  } else {
    await storeBlob(services, dev, temp);
    upload.committed('held');
  }
  return withView(services, dev.id, async (tx) => {
    const isNew = await putFile(tx, dev.id, path, { blobSha256: temp.sha256, size: temp.size, mtime: dates.mtime, assetId });
    if (isNew) await checkRoom(tx, dev.id, services.config.davMaxEntries);
    return isNew;
  });
}

export function answerUpload(
  request: FastifyRequest,
  reply: FastifyReply,
  deviceId: string,
  path: TreePath,
  sha256: string,
  dates: FileDates,
): void {
  reply.header('etag', `"${sha256}"`);
  if (mountOf(request).nextcloud) uploadAnswerHeaders(reply, deviceId, path, sha256);
  if (dates.mtime) reply.header('x-oc-mtime', 'accepted');
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
