import type { FastifyReply, FastifyRequest } from 'fastify';
import { device } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import { registerUpload, storeBlob } from '../ingest/register.ts';
import { tap } from '../intake/body-tap.ts';
import type { InflightUploads } from '../intake/inflight.ts';
import { intake } from '../intake/intake.ts';
import type { Services } from '../services.ts';
import { declaredChecksum } from './body.ts';
import { badRequest, notAllowed } from './errors.ts';
import { metaOf } from './ledger.ts';
import { isFinalPath, pathOfUrl, ROOT } from './paths.ts';
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
      const path = pathOfUrl(request.url);
      if (path === ROOT) throw notAllowed('The root is a folder');
      // A range of a file is not the file: taking it as whole would store a fragment (RFC 9110 §14.5).
      if (request.headers['content-range'] !== undefined) throw badRequest('Partial PUT (Content-Range) is not supported');
      if (Number(request.headers['content-length']) > config.maxUploadBytes) {
        throw new ApiError('payload_too_large', `File exceeds the limit of ${config.maxUploadBytes} bytes`);
      }
      // Refuse before storing anything when the name cannot take a file, or the view has no room for a new one.
      const existing = await findEntry(services.db, dev.id, path);
      if (existing?.kind === 'collection') throw notAllowed(`${path} is a folder`);
      await checkAncestors(services.db, dev.id, path);
      if (!existing) await checkRoom(services.db, dev.id, config.davMaxEntries, 1);

      const mtime = parseMtime(header(request, 'x-oc-mtime'));
      const checksum = declaredChecksum(request.headers['oc-checksum']);
      const body = tap(request.raw, checksum?.hash);
      const temp = await upload.receive(body, config.maxUploadBytes);
      if (checksum && body.digest() !== checksum.expected) {
        throw new ApiError('hash_mismatch', 'The content does not match the declared OC-Checksum');
      }

      let assetId: string | null = null;
      if (isFinalPath(path)) {
        const registered = await registerUpload(services, dev, temp, metaOf(path, mtime));
        assetId = registered.assetId;
        upload.committed(registered.duplicate ? 'duplicate' : 'created');
      } else {
        await storeBlob(services, dev, temp);
        upload.committed('held');
      }
      const created = await withView(services, dev.id, async (tx) => {
        const isNew = await putFile(tx, dev.id, path, { blobSha256: temp.sha256, size: temp.size, mtime, assetId });
        if (isNew) await checkRoom(tx, dev.id, config.davMaxEntries);
        return isNew;
      });
      reply.header('etag', `"${temp.sha256}"`);
      if (mtime) reply.header('x-oc-mtime', 'accepted');
      return reply.code(created ? 201 : 204).send();
    });
  };
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
