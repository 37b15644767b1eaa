import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { device } from '../http/auth.ts';
import type { InflightUploads } from '../intake/inflight.ts';
import type { Services } from '../services.ts';
import { ignoreBody, readSmallBody } from './body.ts';
import { badRequest, forbidden, notFound } from './errors.ts';
import { hrefOf, mountOf, pathOfRequest } from './paths.ts';
import { collectionEtagOf } from './oc-props.ts';
import { etagOf, lastModifiedOf, MULTISTATUS_CLOSE, multistatusOpen, parsePropfind, renderResponse } from './props.ts';
import { countBelow, findEntry, listBelow, listChildren, type Entry } from './view-store.ts';
import { escapeXml, XML_HEAD } from './xml.ts';

const PAGE = 1000;
/** Depth: infinity is answered for trees up to this size; larger ones get 403 (RFC 4918's propfind-finite-depth). */
const MAX_INFINITE_ENTRIES = 10_000;

export const DAV_METHODS = ['OPTIONS', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'GET', 'HEAD', 'PUT', 'DELETE', 'COPY', 'MOVE', 'LOCK', 'UNLOCK'];

/** OPTIONS: class 1 and 2 (LOCK/UNLOCK are offered for the clients that will not write without them). */
export function optionsHandler() {
  return async function options(request: FastifyRequest, reply: FastifyReply) {
    ignoreBody(request);
    return reply.header('dav', '1, 2').header('allow', DAV_METHODS.join(', ')).header('ms-author-via', 'DAV').code(200).send();
  };
}

function depthOf(header: string | string[] | undefined): '0' | '1' | 'infinity' {
  const value = (Array.isArray(header) ? header[0] : header)?.trim().toLowerCase() ?? 'infinity';
  if (value === '0' || value === '1' || value === 'infinity') return value;
  throw badRequest('Depth must be 0, 1 or infinity');
}

/**
 * PROPFIND depth 0, 1 (and infinity for modest trees): size, modification time and ETag (the content's SHA-256) of
 * each entry, which is what clients compare to skip files already sent. Large folders are streamed page by page.
 */
export function propfindHandler(services: Services, uploads: InflightUploads) {
  return async function propfind(request: FastifyRequest, reply: FastifyReply) {
    const dev = device(request);
    const path = pathOfRequest(request);
    const depth = depthOf(request.headers.depth);
    const mount = mountOf(request);
    const query = parsePropfind(await readSmallBody(request, reply, uploads));
    const entry = await findEntry(services.db, dev.id, path, services.clock());
    if (!entry) throw notFound(`${path} does not exist`);
    const members = entry.kind === 'collection' && depth !== '0';
    if (members && depth === 'infinity' && (await countBelow(services.db, dev.id, path)) > MAX_INFINITE_ENTRIES) {
      throw forbidden(`Depth: infinity is answered for at most ${MAX_INFINITE_ENTRIES} entries; use Depth: 1`);
    }
    const page = (after: string | null) =>
      depth === '1' ? listChildren(services.db, dev.id, path, after, PAGE) : listBelow(services.db, dev.id, path, after, PAGE);
    // The first page is read before answering, so an error there is still a proper error answer.
    const firstPage = members ? await page(null) : [];
    async function* render(): AsyncGenerator<string> {
      yield XML_HEAD + multistatusOpen(mount) + renderResponse(entry!, query, mount, dev.id);
      let entries = firstPage;
      while (entries.length > 0) {
        yield entries.map((e) => renderResponse(e, query, mount, dev.id)).join('');
        if (entries.length < PAGE) break;
        entries = await page(entries[entries.length - 1]!.path);
      }
      yield MULTISTATUS_CLOSE;
    }
    return reply.code(207).type('application/xml; charset=utf-8').send(Readable.from(render()));
  };
}

function fileHeaders(reply: FastifyReply, entry: Entry): void {
  reply
    .header('content-type', entry.mimeType ?? 'application/octet-stream')
    .header('content-length', String(entry.size))
    .header('etag', etagOf(entry)!)
    .header('last-modified', lastModifiedOf(entry).toUTCString())
    .header('accept-ranges', 'none');
}

/** GET and HEAD on files the relay still holds; once Google Photos has a file and retention removed its bytes, 404. */
export function getHandler(services: Services, method: 'GET' | 'HEAD') {
  return async function get(request: FastifyRequest, reply: FastifyReply) {
    ignoreBody(request);
    const dev = device(request);
    const path = pathOfRequest(request);
    const entry = await findEntry(services.db, dev.id, path, services.clock());
    if (!entry) throw notFound(`${path} does not exist`);
    if (entry.kind === 'collection') {
      reply.code(200).type('text/html; charset=utf-8');
      if (mountOf(request).nextcloud) reply.header('etag', collectionEtagOf(entry));
      return method === 'HEAD' ? reply.send() : reply.send(await folderPage(services, dev.id, entry, mountOf(request).root));
    }
    // On the Nextcloud door a HEAD asks whether the file exists (the apps upload it again on 404): it still does.
    if (!entry.blobSha256) throw notFound(`${path} does not exist`);
    const listedOnly = method === 'HEAD' && mountOf(request).nextcloud;
    if (!listedOnly && !entry.stored) throw notFound(`${path} is safe in Google Photos; the relay no longer keeps its bytes`);
    if (method === 'HEAD') {
      fileHeaders(reply, entry);
      return reply.code(200).send();
    }
    const stream = services.blobs.open(entry.blobSha256);
    const opened = await new Promise<boolean>((resolve) => {
      stream.once('open', () => resolve(true));
      stream.once('error', () => resolve(false));
    });
    if (!opened) {
      stream.destroy();
      throw notFound(`${path} is safe in Google Photos; the relay no longer keeps its bytes`);
    }
    fileHeaders(reply, entry);
    return reply.code(200).send(stream);
  };
}

/** A plain listing, for someone who opens the URL in a browser. */
async function folderPage(services: Services, deviceId: string, entry: Entry, root: string): Promise<string> {
  const children = await listChildren(services.db, deviceId, entry.path, null, PAGE);
  const items = children
    .map((c) => {
      const name = c.path.slice(c.path.lastIndexOf('/') + 1) + (c.kind === 'collection' ? '/' : '');
      return `<li><a href="${escapeXml(hrefOf(c.path, c.kind === 'collection', root), true)}">${escapeXml(name)}</a></li>`;
    })
    .join('\n');
  const title = escapeXml(`Photo Relay WebDAV: ${entry.path}`);
  return `<!doctype html>\n<html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>\n<ul>\n${items}\n</ul></body></html>\n`;
}
