import { createHash, type Hash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../http/errors.ts';
import { tap } from '../intake/body-tap.ts';
import { answerEarly } from '../intake/early-answer.ts';
import type { InflightUploads } from '../intake/inflight.ts';
import { asIncomplete } from '../intake/incomplete.ts';

/** Largest XML body accepted (PROPFIND, PROPPATCH, LOCK): real ones are a few hundred bytes. */
export const MAX_XML_BODY = 64 * 1024;

export function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Read a small body (XML) whole; over `limit` is a 413. An absent body is "". It is registered with the in-flight
 * uploads like any body, so a shutdown or a client that stops sending ends it too.
 */
export async function readSmallBody(
  request: FastifyRequest,
  reply: FastifyReply,
  uploads: InflightUploads,
  limit = MAX_XML_BODY,
): Promise<string> {
  if (!hasBody(request)) return '';
  if (Number(request.headers['content-length']) > limit) {
    answerEarly(request, reply, uploads);
    throw new ApiError('payload_too_large', `Request bodies here are at most ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const upload = uploads.start(request.raw);
  const feed = tap(request.raw);
  const stop = () => feed.destroy(upload.signal.reason);
  if (upload.signal.aborted) stop();
  else upload.signal.addEventListener('abort', stop);
  try {
    for await (const chunk of feed) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new ApiError('payload_too_large', `Request bodies here are at most ${limit} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    answerEarly(request, reply, uploads);
    throw upload.signal.aborted ? upload.signal.reason : asIncomplete(err);
  } finally {
    upload.signal.removeEventListener('abort', stop);
    uploads.end(upload);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Drain and drop a body we have no use for (GET, DELETE, …), so the connection stays usable. */
export function ignoreBody(request: FastifyRequest): void {
  if (hasBody(request) && !request.raw.complete) request.raw.resume();
}

// A Map, not an object literal: a client's "constructor" or "__proto__" must find nothing, not an inherited member.
const CHECKSUM_TYPES = new Map([
  ['sha1', 'sha1'],
  ['md5', 'md5'],
  ['sha256', 'sha256'],
]);

/**
 * The checksum an ownCloud-style client declares for its upload (`OC-Checksum: SHA1:<hex>`), when it is of a kind
 * we can verify; the content is refused (422) if it does not match, like the native API's declared sha256.
 */
export function declaredChecksum(header: string | string[] | undefined): { hash: Hash; expected: string } | null {
  if (typeof header !== 'string') return null;
  for (const item of header.split(/\s+/)) {
    const cut = item.indexOf(':');
    const algorithm = CHECKSUM_TYPES.get(item.slice(0, cut).toLowerCase());
    const expected = item.slice(cut + 1).toLowerCase();
    if (cut > 0 && algorithm && /^[0-9a-f]+$/.test(expected)) return { hash: createHash(algorithm), expected };
  }
  return null;
}
