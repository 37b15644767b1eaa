import multipart, { type Multipart } from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { requireDevice, device } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import type { Services } from '../services.ts';
import type { TempBlob } from './blob-store.ts';
import { checkAssetMeta, checkSha256 } from './asset-meta.ts';
import { registerUpload, type AssetMeta } from './register.ts';
import { findAsset } from '../assets/asset-view.ts';
import { AssetCreatedSchema, toCreated } from '../assets/schemas.ts';
import { errorResponses } from '../http/schemas.ts';

const TEXT_FIELDS = new Set(['deviceAssetId', 'fileName', 'fileCreatedAt', 'sha256']);
// Room for the multipart envelope around the file when judging Content-Length up front.
const ENVELOPE_ALLOWANCE = 64 * 1024;
// How long the multipart parser may sit idle once the whole body is in and no file is being written (see partsOf).
const PARSER_STALL_MS = 2000;

/** Errors a broken or vanished client causes mid-body; the upload is incomplete, not our failure. */
function asIncomplete(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException & { code?: string };
  if (e instanceof ApiError) return e;
  if (
    e.code === 'ECONNRESET' ||
    e.code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    // @fastify/multipart's code for a request closed mid-body (the plugin names it FST_MP_…, not FST_REQ_…).
    e.code === 'FST_MP_PREMATURE_CLOSE' ||
    /Unexpected end of (form|multipart data)|terminated early|aborted/i.test(e.message ?? '')
  ) {
    return new ApiError('incomplete_upload', 'The upload ended before the whole body arrived');
  }
  if (e.code === 'ENOSPC' || e.code === 'EDQUOT') return new ApiError('insufficient_storage', 'The relay is out of disk space');
  return err;
}

/**
 * An error out of the multipart parser is the body's fault, never ours: a cut body is incomplete, the plugin's
 * limit errors keep their codes (the error handler maps them), anything else (no boundary, broken framing) is a
 * malformed request, not a 500.
 */
function asParserError(err: unknown): unknown {
  const mapped = asIncomplete(err);
  if (mapped !== err || (err as { code?: string }).code?.startsWith('FST_')) return mapped;
  return new ApiError('validation_failed', `Malformed multipart body: ${(err as Error).message ?? String(err)}`);
}

/**
 * The request's parts, with parser failures mapped (asParserError) and one parser bug contained: @fastify/busboy 3.2
 * stalls for good once the body has ended if it skipped a part on the way (a part without a form-data
 * Content-Disposition, e.g. one pushed out by a flood of header pairs), because its write callback waits for a
 * 'drain' its ended parser never emits; the request would hang until the connection timeout. While we wait for the
 * next part no file is being written, so once the whole body is in the parser has nothing left to wait for: if it
 * says nothing within PARSER_STALL_MS, the body is malformed.
 */
async function* partsOf(request: FastifyRequest): AsyncGenerator<Multipart> {
  const iterator = request.parts()[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Multipart>;
    try {
      next = await nextOrStall(iterator, request.raw);
    } catch (err) {
      throw asParserError(err);
    }
    if (next.done) return;
    yield next.value;
  }
}

function nextOrStall<T>(iterator: AsyncIterator<T>, raw: IncomingMessage): Promise<IteratorResult<T>> {
  return new Promise((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer = setTimeout(
        () => reject(new ApiError('validation_failed', 'Malformed multipart body: no closing delimiter after the last part')),
        PARSER_STALL_MS,
      );
    };
    const settle = () => {
      clearTimeout(timer);
      raw.off('end', arm);
    };
    if (raw.readableEnded) arm();
    else raw.once('end', arm);
    iterator.next().then(
      (value) => (settle(), resolve(value)),
      (err: unknown) => (settle(), reject(err)),
    );
  });
}

export default async function uploadRoute(app: FastifyInstance, { services }: { services: Services }) {
  const { config } = services;
  await app.register(multipart, {
    limits: {
      // One byte over the limit reaches the meter, which rejects it at once instead of busboy silently truncating.
      fileSize: config.maxUploadBytes + 1,
      files: 1,
      fields: 16,
      fieldSize: 1024,
      fieldNameSize: 100,
      parts: 20,
      headerPairs: 16,
    },
  });

  app.post(
    '/assets',
    {
      onRequest: requireDevice(services),
      schema: {
        summary: 'Upload one photo or video (multipart: text fields first, then one file part `file`)',
        tags: ['device'],
        consumes: ['multipart/form-data'],
        response: { 200: AssetCreatedSchema, 201: AssetCreatedSchema, ...errorResponses(400, 401, 403, 413, 415, 422, 507) },
      },
    },
    async (request, reply) => {
      const dev = device(request);
      const declared = Number(request.headers['content-length']);
      if (declared > config.maxUploadBytes + ENVELOPE_ALLOWANCE) {
        reply.header('connection', 'close');
        throw new ApiError('payload_too_large', `File exceeds the limit of ${config.maxUploadBytes} bytes`);
      }
      const fields: Record<string, string> = {};
      let temp: TempBlob | undefined;
      let meta: AssetMeta | undefined;
      let declaredSha: string | undefined;
      let truncated = false;
      try {
        for await (const part of partsOf(request)) {
          if (part.type === 'field') {
            if (meta) throw new ApiError('validation_failed', 'Text fields must come before the file part');
            if (part.valueTruncated || part.fieldnameTruncated)
              throw new ApiError('validation_failed', `Field ${part.fieldname} is too long`);
            if (!TEXT_FIELDS.has(part.fieldname)) continue; // unknown fields are tolerated, as the contract may grow
            if (part.fieldname in fields) throw new ApiError('validation_failed', `Field ${part.fieldname} given twice`);
            fields[part.fieldname] = String(part.value);
            continue;
          }
          if (part.fieldname !== 'file') throw new ApiError('validation_failed', 'The file part must be named "file"');
          meta = checkAssetMeta(fields, part.filename);
          declaredSha = checkSha256(fields.sha256);
          temp = await services.blobs.receive(part.file, config.maxUploadBytes);
          truncated = part.file.truncated;
        }
        if (!temp || !meta) throw new ApiError('validation_failed', 'A file part named "file" is required');
        if (truncated) throw new ApiError('payload_too_large', `File exceeds the limit of ${config.maxUploadBytes} bytes`);
        if (declaredSha && declaredSha !== temp.sha256) {
          throw new ApiError('hash_mismatch', `Declared sha256 ${declaredSha} does not match the content (${temp.sha256})`);
        }
        const registered = await registerUpload(services, dev, temp, meta);
        temp = undefined;
        const asset = await findAsset(services.db, registered.assetId);
        return reply.code(registered.duplicate ? 200 : 201).send(toCreated(asset!, registered.duplicate));
      } catch (err) {
        if (temp) await services.blobs.discard(temp.tempPath);
        // The rest of the body may still be arriving: do not keep a half-read connection alive.
        reply.header('connection', 'close');
        throw asIncomplete(err);
      }
    },
  );
}
