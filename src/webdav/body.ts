import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../http/errors.ts';

/** Largest XML body accepted (PROPFIND, PROPPATCH, LOCK): real ones are a few hundred bytes. */
export const MAX_XML_BODY = 64 * 1024;

// How long an early error answer keeps reading and dropping the rest of the body before closing (see answerEarly).
const LINGER_MS = 10_000;

export function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Prepare an error answer while the client may still be sending (over the limit, not media): closing with unread
 * bytes makes the kernel send a reset that can wipe the answer from the client's buffers, and a client that sees
 * ECONNRESET instead of 413/415 retries forever. So read and drop the rest for up to LINGER_MS, then cut.
 * (The same reasoning as the native upload route's.)
 */
export function answerEarly(request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw;
  if (raw.complete || raw.destroyed) {
    reply.header('connection', 'close');
    return;
  }
  raw.unpipe();
  raw.resume();
  const cut = setTimeout(() => raw.socket?.destroy(), LINGER_MS).unref();
  raw.once('end', () => clearTimeout(cut));
  raw.socket?.once('close', () => clearTimeout(cut));
}

/** Errors a broken or vanished client causes mid-body: the upload is incomplete, not our failure. */
export function asIncomplete(err: unknown): unknown {
  if (err instanceof ApiError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || /aborted/i.test(e?.message ?? '')) {
    return new ApiError('incomplete_upload', 'The upload ended before the whole body arrived');
  }
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') return new ApiError('insufficient_storage', 'The relay is out of disk space');
  return err;
}

/** Read a small body (XML) whole; over `limit` is a 413. An absent body is "". */
export async function readSmallBody(request: FastifyRequest, reply: FastifyReply, limit = MAX_XML_BODY): Promise<string> {
  if (!hasBody(request)) return '';
  if (Number(request.headers['content-length']) > limit) {
    answerEarly(request, reply);
    throw new ApiError('payload_too_large', `Request bodies here are at most ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const feed = tap(request.raw);
  try {
    for await (const chunk of feed) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new ApiError('payload_too_large', `Request bodies here are at most ${limit} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    answerEarly(request, reply);
    throw asIncomplete(err);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Drain and drop a body we have no use for (GET, DELETE, …), so the connection stays usable. */
export function ignoreBody(request: FastifyRequest): void {
  if (hasBody(request) && !request.raw.complete) request.raw.resume();
}

/**
 * The request body as a stream of its own. The ingest pipeline destroys its source when it rejects content (over
 * the limit, not media): that must not destroy the request, or the client would get a reset instead of the answer.
 * A client that vanishes mid-body ends this stream with an error, so nothing half-received is ever taken as whole.
 * Optionally hashes what flows through, for a checksum the client declared (OC-Checksum).
 */
export function tap(raw: IncomingMessage, hash?: Hash): BodyTap {
  const feed = new BodyTap(hash);
  const abort = () => feed.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  // A request closed before its body was all read (even one fully received: its unread bytes go with it) is cut.
  const cut = () => {
    if (!raw.readableEnded) abort();
  };
  // The client may have gone while the request was being authenticated: a destroyed request emits nothing more,
  // and piping it would leave the upload waiting for ever.
  if (raw.destroyed && !raw.readableEnded) {
    process.nextTick(abort);
    return feed;
  }
  raw.once('error', cut);
  raw.once('close', cut);
  feed.once('close', () => {
    raw.off('error', cut);
    raw.off('close', cut);
  });
  raw.pipe(feed);
  return feed;
}

export class BodyTap extends Transform {
  constructor(private readonly hash?: Hash) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hash?.update(chunk);
    callback(null, chunk);
  }

  digest(): string | undefined {
    return this.hash?.digest('hex');
  }
}

const CHECKSUM_TYPES: Record<string, string> = { sha1: 'sha1', md5: 'md5', sha256: 'sha256' };

/**
 * The checksum an ownCloud-style client declares for its upload (`OC-Checksum: SHA1:<hex>`), when it is of a kind
 * we can verify; the content is refused (422) if it does not match, like the native API's declared sha256.
 */
export function declaredChecksum(header: string | string[] | undefined): { hash: Hash; expected: string } | null {
  if (typeof header !== 'string') return null;
  for (const item of header.split(/\s+/)) {
    const cut = item.indexOf(':');
    const algorithm = CHECKSUM_TYPES[item.slice(0, cut).toLowerCase()];
    const expected = item.slice(cut + 1).toLowerCase();
    if (cut > 0 && algorithm && /^[0-9a-f]+$/.test(expected)) return { hash: createHash(algorithm), expected };
  }
  return null;
}
