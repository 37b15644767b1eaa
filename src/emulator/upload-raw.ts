import type { FastifyReply, FastifyRequest } from 'fastify';
import { GOOGLE_MAX_BYTES } from '../media/sniff.ts';
import { StreamDigest } from './digest.ts';
import { dropConnection, type RequestContext } from './request-context.ts';
import type { EmulatorState } from './state.ts';
import { describeBlob } from './upload-store.ts';
import { contentLength, H, header, missingDescriptionHeader, pumpBody, sendUploadError } from './upload-common.ts';

const ABSOLUTE_MAX = Math.max(...Object.values(GOOGLE_MAX_BYTES));

/** The checks both upload protocols apply to finished bytes; returns an error message or undefined. */
export function rejectFinishedBytes(state: EmulatorState, blob: Awaited<ReturnType<typeof describeBlob>>): string | undefined {
  if (blob.media && blob.size > GOOGLE_MAX_BYTES[blob.media.kind]) {
    return `The ${blob.media.kind} is larger than the maximum of ${GOOGLE_MAX_BYTES[blob.media.kind]} bytes.`;
  }
  if (!blob.media && state.config.unsupportedAt === 'upload') return 'Failed: the uploaded bytes are not a supported photo or video format.';
  return undefined;
}

/** POST /v1/uploads with X-Goog-Upload-Protocol: raw — the body is the file, the answer its upload token. */
export async function handleRawUpload(state: EmulatorState, ctx: RequestContext, req: FastifyRequest, reply: FastifyReply) {
  const mediaType = (header(req, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType !== 'application/octet-stream') return sendUploadError(state, reply, 400, 'Content-Type must be application/octet-stream.');
  if (header(req, H.command) !== undefined) return sendUploadError(state, reply, 400, 'X-Goog-Upload-Command is not allowed with the raw protocol.');
  const missing = missingDescriptionHeader(req);
  if (missing) return sendUploadError(state, reply, 400, missing);
  const declared = contentLength(req);
  if (declared === 0) return sendUploadError(state, reply, 400, 'The request body is empty.');
  if (declared !== undefined && declared > ABSOLUTE_MAX) return sendUploadError(state, reply, 400, 'The upload is larger than any accepted media.');

  const digest = new StreamDigest();
  let oversized = false;
  const outcome = await pumpBody(
    req,
    state,
    (bytes) => {
      // Past every limit the bytes can only be rejected, so stop hashing but keep draining.
      if (oversized || digest.size + bytes.length > ABSOLUTE_MAX) oversized = true;
      else digest.update(bytes);
    },
    ctx.dropAfterBytes,
  );
  if (outcome === 'aborted') {
    ctx.outcome = 'aborted';
    return reply.hijack();
  }
  if (outcome === 'cut') return dropConnection(reply, ctx);
  if (oversized) return sendUploadError(state, reply, 400, 'The upload is larger than any accepted media.');
  if (digest.size === 0) return sendUploadError(state, reply, 400, 'The request body is empty.');

  const blob = await describeBlob(digest);
  const rejection = rejectFinishedBytes(state, blob);
  if (rejection) return sendUploadError(state, reply, 400, rejection);
  const token = state.uploads.issueToken({ email: ctx.email!, clientId: ctx.clientId!, blob, fileName: header(req, H.fileName)!.trim() });
  return reply.code(200).type('text/plain; charset=UTF-8').send(token.token);
}
