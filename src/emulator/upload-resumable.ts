import type { FastifyReply, FastifyRequest } from 'fastify';
import { GOOGLE_MAX_BYTES } from '../media/sniff.ts';
import { StreamDigest } from './digest.ts';
import { dropConnection, type RequestContext } from './request-context.ts';
import type { EmulatorState } from './state.ts';
import { describeBlob, type ResumableSession } from './upload-store.ts';
import { rejectFinishedBytes } from './upload-raw.ts';
import { contentLength, H, header, intHeader, missingDescriptionHeader, pumpBody, sendUploadError } from './upload-common.ts';

/** The session URL mirrors Google's shape (same path, an upload_id query), so clients must use it verbatim. */
export function sessionUrl(req: FastifyRequest, session: ResumableSession): string {
  return `${req.protocol}://${req.host}/v1/uploads?upload_id=${session.id}&upload_protocol=resumable`;
}

/** Size received includes the whole granules of a chunk still streaming in, as Google persists them as they arrive. */
function statusHeaders(reply: FastifyReply, session: ResumableSession, size = session.writer?.persistedSoFar() ?? session.persisted.size): FastifyReply {
  return reply.header(H.status, session.status).header(H.sizeReceived, String(size));
}

/** POST /v1/uploads with X-Goog-Upload-Command: start — opens a session, no bytes yet. */
export async function handleResumableStart(state: EmulatorState, ctx: RequestContext, req: FastifyRequest, reply: FastifyReply) {
  const length = contentLength(req);
  if ((length ?? 0) > 0 || header(req, 'transfer-encoding') !== undefined) {
    return sendUploadError(state, reply, 400, 'The start request must have an empty body (Content-Length: 0).');
  }
  const missing = missingDescriptionHeader(req);
  if (missing) return sendUploadError(state, reply, 400, missing);
  const rawSize = intHeader(req, H.rawSize);
  if (rawSize === undefined || rawSize === 0) return sendUploadError(state, reply, 400, 'X-Goog-Upload-Raw-Size must be a positive byte count.');
  const declaredType = header(req, H.contentType)!.trim();
  // The declared type is all Google knows before the bytes arrive; the sniffed format is checked again at finalize.
  const limit = declaredType.toLowerCase().startsWith('image/') ? GOOGLE_MAX_BYTES.photo : GOOGLE_MAX_BYTES.video;
  if (rawSize > limit) return sendUploadError(state, reply, 400, `X-Goog-Upload-Raw-Size exceeds the maximum of ${limit} bytes.`);

  const session = state.uploads.openSession({
    email: ctx.email!,
    clientId: ctx.clientId!,
    rawSize,
    declaredType,
    fileName: header(req, H.fileName)!.trim(),
    persisted: new StreamDigest(),
  });
  state.stats.resumable.sessions++;
  return reply
    .code(200)
    .header(H.url, sessionUrl(req, session))
    .header(H.granularity, String(session.granularity))
    .header(H.status, 'active')
    .send();
}

type Command = 'query' | 'cancel' | 'upload' | 'finalize' | 'upload, finalize';

function parseCommand(raw: string | undefined): Command | undefined {
  const parts = (raw ?? '').split(',').map((p) => p.trim().toLowerCase()).filter(Boolean);
  const joined = parts.join(', ');
  return (['query', 'cancel', 'upload', 'finalize', 'upload, finalize'] as const).find((c) => c === joined);
}

/** POST {session URL}: query, cancel, or upload a chunk (optionally finalizing). */
export async function handleSessionRequest(state: EmulatorState, ctx: RequestContext, req: FastifyRequest, reply: FastifyReply, sessionId: string) {
  const session = state.uploads.session(sessionId);
  if (!session) return sendUploadError(state, reply, 404, 'Upload session not found.');
  const command = parseCommand(header(req, H.command));
  if (!command) return sendUploadError(state, reply, 400, 'X-Goog-Upload-Command must be one of: query, cancel, upload, upload, finalize.');

  if (command === 'query') {
    state.stats.resumable.queries++;
    return statusHeaders(reply.code(200), session).send();
  }
  if (command === 'cancel') {
    if (session.status === 'active') session.status = 'cancelled';
    return statusHeaders(reply.code(200), session).send();
  }

  state.stats.resumable.chunks++;
  // A newer request wins over one still streaming (typically a connection the client already gave up on). Loop:
  // another request may have taken over while this one waited; nothing awaits between the loop and taking over.
  while (session.writer) {
    session.writer.abort();
    await session.writer.settled;
  }
  // Expired, cancelled and already-finalized sessions take no more bytes: 404, with the status saying which.
  if (session.status !== 'active') return statusHeaders(reply, session).code(404).send();
  if (command === 'finalize' && (contentLength(req) ?? 0) > 0) {
    return sendUploadError(state, statusHeaders(reply, session), 400, 'A finalize without upload must have an empty body.');
  }
  return uploadChunk(state, ctx, req, reply, session, command !== 'upload');
}

async function uploadChunk(
  state: EmulatorState,
  ctx: RequestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  session: ResumableSession,
  finalize: boolean,
) {
  // A rejected chunk persists nothing, so the size reported is the committed one.
  const reject = (message: string) => sendUploadError(state, statusHeaders(reply, session, session.persisted.size), 400, message);
  const offset = intHeader(req, H.offset);
  const start = session.persisted.size;
  if (offset === undefined) return reject('X-Goog-Upload-Offset header is required.');
  if (offset !== start) return reject(`X-Goog-Upload-Offset ${offset} does not match the ${start} bytes received so far.`);
  const declared = contentLength(req);
  if (declared !== undefined) {
    if (!finalize && declared % session.granularity !== 0) return reject(`A non-final chunk must be a multiple of ${session.granularity} bytes.`);
    if (start + declared > session.rawSize) return reject('The chunk goes past X-Goog-Upload-Raw-Size.');
    if (finalize && start + declared !== session.rawSize) return reject('The upload is finalized before X-Goog-Upload-Raw-Size bytes were sent.');
  }

  const work = session.persisted.fork();
  let settle!: () => void;
  session.writer = { abort: () => ctx.socket.destroy(), settled: new Promise<void>((r) => (settle = r)), persistedSoFar: () => work.size };
  try {
    return await receiveChunk(state, ctx, req, reply, session, work, finalize, reject);
  } finally {
    session.writer = undefined;
    settle();
  }
}

async function receiveChunk(
  state: EmulatorState,
  ctx: RequestContext,
  req: FastifyRequest,
  reply: FastifyReply,
  session: ResumableSession,
  work: StreamDigest,
  finalize: boolean,
  reject: (message: string) => FastifyReply,
) {
  const start = session.persisted.size;
  // Google persists a cut chunk only up to the last whole granule (configurable), so bytes are hashed in granules.
  const granule = state.config.partialChunk === 'aligned' ? session.granularity : 1;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let received = 0;
  let overflow = false;
  // Hashes whole granules (or everything) from the pending buffers without copying them.
  const flush = (all: boolean) => {
    let take = all ? pendingBytes : pendingBytes - (pendingBytes % granule);
    const keep: Buffer[] = [];
    for (const b of pending) {
      if (take >= b.length) {
        work.update(b);
        take -= b.length;
      } else {
        if (take > 0) work.update(b.subarray(0, take));
        keep.push(b.subarray(take));
        take = 0;
      }
    }
    pending = keep;
    pendingBytes = keep.reduce((n, b) => n + b.length, 0);
  };

  const outcome = await pumpBody(
    req,
    state,
    (bytes) => {
      received += bytes.length;
      if (overflow || start + received > session.rawSize) {
        overflow = true;
        return;
      }
      pending.push(bytes);
      pendingBytes += bytes.length;
      if (pendingBytes >= granule) flush(false);
    },
    ctx.dropAfterBytes,
  );

  if (outcome !== 'complete') {
    if (!overflow && session.status === 'active') session.persisted = work;
    if (outcome === 'cut') return dropConnection(reply, ctx);
    ctx.outcome = 'aborted';
    return reply.hijack();
  }
  if (overflow) return reject('The chunk goes past X-Goog-Upload-Raw-Size.');
  if (!finalize) {
    if (received % session.granularity !== 0) return reject(`A non-final chunk must be a multiple of ${session.granularity} bytes.`);
    flush(true);
    session.persisted = work;
    return statusHeaders(reply.code(200), session).send();
  }
  flush(true);
  if (work.size !== session.rawSize) return reject('The upload is finalized before X-Goog-Upload-Raw-Size bytes were sent.');
  session.persisted = work;

  const blob = await describeBlob(work);
  const rejection = rejectFinishedBytes(state, blob);
  if (rejection) {
    session.status = 'cancelled';
    return sendUploadError(state, statusHeaders(reply, session), 400, rejection);
  }
  session.status = 'final';
  const token = state.uploads.issueToken({ email: session.email, clientId: session.clientId, blob, fileName: session.fileName });
  return statusHeaders(reply.code(200), session).type('text/plain; charset=UTF-8').send(token.token);
}
