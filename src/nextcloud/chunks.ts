import type { FastifyReply, FastifyRequest } from 'fastify';
import { device, type AuthedDevice } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import { BodyTap, tap } from '../intake/body-tap.ts';
import { answerEarly } from '../intake/early-answer.ts';
import { asIncomplete } from '../intake/incomplete.ts';
import type { InflightUploads } from '../intake/inflight.ts';
import { intake } from '../intake/intake.ts';
import type { Services } from '../services.ts';
import { declaredChecksum, ignoreBody, readSmallBody } from '../webdav/body.ts';
import { badRequest, notAllowed, notFound, preconditionFailed } from '../webdav/errors.ts';
import { uploadAnswerHeaders } from '../webdav/oc-props.ts';
import { pathOfDestination, type TreePath } from '../webdav/paths.ts';
import { answerUpload, checkFileTarget, commitFile, datesOf } from '../webdav/put.ts';
import { findEntry } from '../webdav/view-store.ts';
import { escapeXml, XML_HEAD } from '../webdav/xml.ts';
import { checkUploadId, type ChunkStore } from './chunk-store.ts';
import { checkUser, FILES_ROOT, LEGACY_ROOT, UPLOADS_ROOT } from './users.ts';

interface UploadParams {
  user: string;
  id: string;
  chunk?: string;
}

/** The upload folder a request names, its user checked (another device's folder is not found). */
function folderOf(request: FastifyRequest): { dev: AuthedDevice; id: string; chunk?: string; user: string } {
  const dev = device(request);
  const { user, id, chunk } = request.params as UploadParams;
  checkUser(request, dev, user);
  checkUploadId(id);
  return { dev, id, user, ...(chunk !== undefined ? { chunk } : {}) };
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function declaredLength(request: FastifyRequest): number | null {
  const value = first(request.headers['oc-total-length'])?.trim();
  if (value === undefined || value === '') return null;
  if (!/^\d{1,16}$/.test(value)) throw badRequest('OC-Total-Length must be a byte count');
  return Number(value);
}

/**
 * Chunked upload v2 (/remote.php/dav/uploads/<user>/<id>/): MKCOL opens a folder, chunk PUTs fill it (resumable: a
 * PROPFIND lists what arrived), MOVE of its ".file" assembles the chunks in numeric order and sends them through the
 * one intake, as a single PUT of the whole file would; DELETE abandons it.
 */
export function chunkHandlers(services: Services, uploads: InflightUploads, store: ChunkStore) {
  const { config } = services;

  async function mkcol(request: FastifyRequest, reply: FastifyReply) {
    ignoreBody(request);
    const { dev, id } = folderOf(request);
    const totalLength = declaredLength(request);
    if (totalLength !== null && totalLength > config.maxUploadBytes) {
      throw new ApiError('payload_too_large', `File exceeds the limit of ${config.maxUploadBytes} bytes`);
    }
    await store.create(dev.id, id, { totalLength });
    return reply.code(201).send();
  }

  async function propfind(request: FastifyRequest, reply: FastifyReply) {
    const { dev, id, user } = folderOf(request);
    await readSmallBody(request, reply, uploads);
    if (!(await store.exists(dev.id, id))) throw notFound('No such upload folder');
    const base = `${UPLOADS_ROOT}/${encodeURIComponent(user)}/${encodeURIComponent(id)}`;
    const depth0 = first(request.headers.depth)?.trim() === '0';
    const chunks = depth0 ? [] : await store.list(dev.id, id);
    const response = (href: string, inner: string) =>
      `<d:response><d:href>${escapeXml(href)}</d:href><d:propstat><d:prop>${inner}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\n`;
    let body = `${XML_HEAD}<d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">\n`;
    body += response(`${base}/`, '<d:resourcetype><d:collection/></d:resourcetype><d:getetag>"upload"</d:getetag>');
    for (const c of chunks) {
      body += response(
        `${base}/${c.name}`,
        `<d:resourcetype/><d:getcontentlength>${c.size}</d:getcontentlength><oc:size>${c.size}</oc:size><d:getetag>"${c.name}-${c.size}"</d:getetag>`,
      );
    }
    return reply.code(207).type('application/xml; charset=utf-8').send(`${body}</d:multistatus>\n`);
  }

  async function head(request: FastifyRequest, reply: FastifyReply) {
    ignoreBody(request);
    const { dev, id } = folderOf(request);
    if (!(await store.exists(dev.id, id))) throw notFound('No such upload folder');
    return reply.code(200).send();
  }

  /** One chunk: counted against the declared total length, MAX_UPLOAD_BYTES and the free space before a byte is kept. */
  async function putChunk(request: FastifyRequest, reply: FastifyReply) {
    const { dev, id, chunk } = folderOf(request);
    const upload = uploads.start(request.raw);
    try {
      if (!(await store.exists(dev.id, id))) throw notFound('No such upload folder: MKCOL it first');
      const name = chunk!;
      const [meta, chunks] = await Promise.all([store.meta(dev.id, id), store.list(dev.id, id)]);
      const held = chunks.filter((c) => c.name !== name).reduce((sum, c) => sum + c.size, 0);
      const cap = Math.min(config.maxUploadBytes, meta.totalLength ?? Number.MAX_SAFE_INTEGER);
      const room = cap - held;
      const length = Number(first(request.headers['content-length']) ?? NaN);
      if (room <= 0 || length > room) {
        throw new ApiError(
          'payload_too_large',
          `The chunks would exceed ${cap === config.maxUploadBytes ? 'the limit of' : 'the declared total of'} ${cap} bytes`,
        );
      }
      // The assembled file needs room too: the chunks and their copy.
      if (Number.isFinite(length) && (await services.blobs.freeBytes()) < length + held) {
        throw new ApiError('insufficient_storage', 'The relay is out of disk space');
      }
      await store.put(dev.id, id, name, tap(request.raw), room, upload.signal);
      return reply.code(201).send();
    } catch (err) {
      answerEarly(request, reply, uploads);
      throw upload.signal.aborted ? upload.signal.reason : asIncomplete(err);
    } finally {
      uploads.end(upload);
    }
  }

  async function del(request: FastifyRequest, reply: FastifyReply) {
    ignoreBody(request);
    const { dev, id, chunk } = folderOf(request);
    if (chunk !== undefined) throw notAllowed('Delete the upload folder, not a chunk');
    if (!(await store.exists(dev.id, id))) throw notFound('No such upload folder');
    await store.remove(dev.id, id);
    return reply.code(204).send();
  }

  /** MOVE …/.file: the one moment a complete file enters the relay. */
  async function assemble(request: FastifyRequest, reply: FastifyReply) {
    ignoreBody(request);
    const { dev, id, chunk } = folderOf(request);
    if (chunk !== '.file') throw notAllowed('Only the upload folder\'s ".file" can be moved');
    const path = destinationOf(request, dev);
    if (!(await store.exists(dev.id, id))) throw notFound('No such upload folder');
    const overwrite = first(request.headers.overwrite)?.trim().toUpperCase() !== 'F';
    if (!overwrite && (await findEntry(services.db, dev.id, path))) throw preconditionFailed(`${path} exists and Overwrite is F`);
    const [meta, chunks] = await Promise.all([store.meta(dev.id, id), store.list(dev.id, id)]);
    const size = chunks.reduce((sum, c) => sum + c.size, 0);
    const expected = declaredLength(request) ?? meta.totalLength;
    if (chunks.length === 0) throw badRequest('The upload folder holds no chunks');
    if (size > config.maxUploadBytes) {
      await store.remove(dev.id, id);
      throw new ApiError('payload_too_large', `File exceeds the limit of ${config.maxUploadBytes} bytes`);
    }
    // Incomplete: the chunks stay, so the client can send the missing ones and MOVE again.
    if (expected !== null && size !== expected)
      throw badRequest(`The chunks hold ${size} bytes of the ${expected} declared: upload incomplete`);
    await checkFileTarget(services, dev.id, path);
    const dates = datesOf(request);
    const checksum = declaredChecksum(request.headers['oc-checksum']);
    return intake(services, uploads, request, reply, async (upload) => {
      const body = new BodyTap(checksum?.hash);
      const source = store.assemble(dev.id, id, chunks);
      source.on('error', (err) => body.destroy(err));
      source.pipe(body);
      let temp;
      try {
        temp = await upload.receive(body, config.maxUploadBytes);
      } catch (err) {
        // Another MOVE or a DELETE of the same folder took the chunks away mid-read.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound('The upload folder went away');
        // Content the relay refuses (not media, too large) will not become acceptable: the folder goes with it.
        if (err instanceof ApiError && err.statusCode !== 503 && err.code !== 'incomplete_upload') await store.remove(dev.id, id);
        throw err;
      }
      if (checksum && body.digest() !== checksum.expected) {
        await store.remove(dev.id, id);
        throw new ApiError('hash_mismatch', 'The content does not match the declared OC-Checksum');
      }
      const created = await commitFile(services, dev, upload, temp, path, dates);
      await store.remove(dev.id, id);
      answerUpload(request, reply, dev.id, path, temp.sha256, dates);
      // This route is not under a files mount, so the Nextcloud headers are added here: nextcloudcmd fails without.
      uploadAnswerHeaders(reply, dev.id, path, temp.sha256);
      return reply.code(created ? 201 : 204).send();
    });
  }

  return { mkcol, propfind, head, putChunk, del, assemble };
}

/** Destination of the assembling MOVE: an absolute URL (Android) or a path (nextcloudcmd), in this device's files. */
function destinationOf(request: FastifyRequest, dev: AuthedDevice): TreePath {
  const header = first(request.headers.destination);
  if (!header) throw badRequest('A Destination header is required');
  const pathOnly = header.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '');
  if (pathOnly === LEGACY_ROOT || pathOnly.startsWith(`${LEGACY_ROOT}/`)) return pathOfDestination(pathOnly, LEGACY_ROOT);
  if (!pathOnly.startsWith(`${FILES_ROOT}/`)) throw badRequest(`Destination must lie under ${FILES_ROOT}/<user>/`);
  const segment = pathOnly.slice(FILES_ROOT.length + 1).split('/')[0]!;
  checkUser(request, dev, segment);
  return pathOfDestination(pathOnly, `${FILES_ROOT}/${segment}`);
}
