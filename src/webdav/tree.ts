import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { device } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import type { Services } from '../services.ts';
import { answerEarly } from '../intake/early-answer.ts';
import type { InflightUploads } from '../intake/inflight.ts';
import { hasBody, ignoreBody, readSmallBody } from './body.ts';
import { forbidden, notAllowed, notFound } from './errors.ts';
import { hrefOf, mountOf, pathOfRequest, ROOT } from './paths.ts';
import { parsePropPatch, renderPropPatch } from './props.ts';
import { checkRoom, findEntry, makeCollection, removeTree, setMtime, withView } from './view-store.ts';
import { child, escapeXml, parseXml, XML_HEAD } from './xml.ts';

/** MKCOL: folders are a device-local view; missing parents are created with them. */
export function mkcolHandler(services: Services, uploads: InflightUploads) {
  return async function mkcol(request: FastifyRequest, reply: FastifyReply) {
    const dev = device(request);
    if (hasBody(request)) {
      answerEarly(request, reply, uploads);
      throw new ApiError('unsupported_media_type', 'MKCOL with a body is not supported');
    }
    const path = pathOfRequest(request);
    if (path === ROOT) throw notAllowed('The root exists');
    await withView(services, dev.id, async (tx) => {
      if (await findEntry(tx, dev.id, path)) throw notAllowed(`${path} already exists`);
      await makeCollection(tx, dev.id, path);
      await checkRoom(tx, dev.id, services.config.davMaxEntries);
    });
    return reply.code(201).send();
  };
}

/**
 * DELETE removes the entry (a folder: with everything in it) from this device's WebDAV view, and nothing else: the
 * asset, its blob and its delivery stay in the ledger, and Google Photos keeps the photo.
 */
export function deleteHandler(services: Services) {
  return async function del(request: FastifyRequest, reply: FastifyReply) {
    ignoreBody(request);
    const dev = device(request);
    const path = pathOfRequest(request);
    if (path === ROOT) throw forbidden('The root cannot be deleted');
    const removed = await withView(services, dev.id, (tx) => removeTree(tx, dev.id, path));
    if (removed === 0) throw notFound(`${path} does not exist`);
    return reply.code(204).send();
  };
}

/**
 * PROPPATCH: a client setting a file's modification time (DAV:getlastmodified, DAV:lastmodified,
 * Win32LastModifiedTime) sets the asset's fileCreatedAt; other properties are acknowledged and not kept.
 */
export function proppatchHandler(services: Services, uploads: InflightUploads) {
  return async function proppatch(request: FastifyRequest, reply: FastifyReply) {
    const dev = device(request);
    const path = pathOfRequest(request);
    const patch = parsePropPatch(await readSmallBody(request, reply, uploads));
    const entry = await findEntry(services.db, dev.id, path);
    if (!entry) throw notFound(`${path} does not exist`);
    if (patch.mtime && entry.kind === 'file') {
      await withView(services, dev.id, (tx) => setMtime(tx, services.ledger.assets, dev.id, path, patch.mtime!));
    }
    const body = XML_HEAD + renderPropPatch(hrefOf(path, entry.kind === 'collection', mountOf(request).root), patch.props);
    return reply.code(207).type('application/xml; charset=utf-8').send(body);
  };
}

const LOCK_SECONDS = 3600;

/**
 * LOCK/UNLOCK, for the clients that will not write without class 2 (macOS Finder, Windows). Locks are granted and
 * not enforced: each device writes only its own tree, every PUT is atomic, and the ledger dedupes; a lock would
 * protect nothing a client could break.
 */
export function lockHandler(uploads: InflightUploads) {
  return async function lock(request: FastifyRequest, reply: FastifyReply) {
    const pathHref = hrefOf(pathOfRequest(request), false, mountOf(request).root);
    const body = await readSmallBody(request, reply, uploads);
    let scope = 'exclusive';
    if (body.trim()) {
      const lockscope = child(parseXml(body), 'lockscope');
      if (lockscope && child(lockscope, 'shared')) scope = 'shared';
    }
    // A refresh (no body) names its lock in the If header; keep that token.
    const refreshed = /<(opaquelocktoken:[^>]+)>/.exec(String(request.headers.if ?? ''))?.[1];
    const token = !body.trim() && refreshed ? refreshed : `opaquelocktoken:${randomUUID()}`;
    const depth = request.headers.depth === '0' ? '0' : 'infinity';
    const xml =
      `${XML_HEAD}<D:prop xmlns:D="DAV:"><D:lockdiscovery><D:activelock>` +
      `<D:locktype><D:write/></D:locktype><D:lockscope><D:${scope}/></D:lockscope><D:depth>${depth}</D:depth>` +
      `<D:timeout>Second-${LOCK_SECONDS}</D:timeout><D:locktoken><D:href>${escapeXml(token)}</D:href></D:locktoken>` +
      `<D:lockroot><D:href>${escapeXml(pathHref)}</D:href></D:lockroot></D:activelock></D:lockdiscovery></D:prop>\n`;
    return reply.code(200).header('lock-token', `<${token}>`).type('application/xml; charset=utf-8').send(xml);
  };
}

export function unlockHandler() {
  return async function unlock(request: FastifyRequest, reply: FastifyReply) {
    ignoreBody(request);
    pathOfRequest(request);
    return reply.code(204).send();
  };
}
