import type { FastifyReply, FastifyRequest } from 'fastify';
import { canonicalOf, RPC_CODE, sendGoogleError } from './errors.ts';
import type { EmulatorState } from './state.ts';

export const H = {
  protocol: 'x-goog-upload-protocol',
  command: 'x-goog-upload-command',
  contentType: 'x-goog-upload-content-type',
  fileName: 'x-goog-upload-file-name',
  rawSize: 'x-goog-upload-raw-size',
  offset: 'x-goog-upload-offset',
  url: 'X-Goog-Upload-URL',
  granularity: 'X-Goog-Upload-Chunk-Granularity',
  status: 'X-Goog-Upload-Status',
  sizeReceived: 'X-Goog-Upload-Size-Received',
} as const;

export function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i;

/** The descriptive headers every upload must carry (the document lists both for raw and for resumable start). */
export function missingDescriptionHeader(req: FastifyRequest): string | undefined {
  const type = header(req, H.contentType)?.trim();
  if (!type || !MIME.test(type)) return 'X-Goog-Upload-Content-Type header is missing or not a MIME type.';
  if (!header(req, H.fileName)?.trim()) return 'X-Goog-Upload-File-Name header is missing.';
  return undefined;
}

/** A non-negative decimal integer header, or undefined if absent or malformed. */
export function intHeader(req: FastifyRequest, name: string): number | undefined {
  const v = header(req, name)?.trim();
  return v !== undefined && /^\d{1,16}$/.test(v) ? Number(v) : undefined;
}

export function contentLength(req: FastifyRequest): number | undefined {
  return intHeader(req, 'content-length');
}

/** Upload errors were observed both in the usual envelope and bare ({code, message}); which one is configurable. */
export function sendUploadError(state: EmulatorState, reply: FastifyReply, status: number, message: string): FastifyReply {
  if (state.config.uploadErrorFormat === 'envelope') return sendGoogleError(reply, status, message);
  return reply
    .code(status)
    .type('application/json; charset=UTF-8')
    .send({ code: RPC_CODE[canonicalOf(status)] ?? 2, message });
}

export type BodyOutcome = 'complete' | 'cut' | 'aborted';

/**
 * Streams the request body into `sink` without buffering it. With `cutAfter`, stops once that many bytes were
 * delivered and reports 'cut' (the caller then drops the connection); 'aborted' means the client went away.
 */
export async function pumpBody(
  req: FastifyRequest,
  state: EmulatorState,
  sink: (bytes: Buffer) => void,
  cutAfter?: number,
): Promise<BodyOutcome> {
  let seen = 0;
  const stats = state.stats;
  try {
    for await (const chunk of req.raw) {
      let bytes = chunk as Buffer;
      const cut = cutAfter !== undefined && seen + bytes.length >= cutAfter;
      if (cut) bytes = bytes.subarray(0, cutAfter - seen);
      seen += bytes.length;
      stats.bytesReceived += bytes.length;
      if (bytes.length > 0) sink(bytes);
      if (cut) return 'cut';
    }
    return 'complete';
  } catch {
    return 'aborted';
  }
}
