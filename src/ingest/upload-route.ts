import { Type } from '@sinclair/typebox';
import multipart, { type Multipart } from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { requireDevice, device } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import type { Services } from '../services.ts';
import type { TempBlob } from './blob-store.ts';
import { checkAssetMeta, checkSha256 } from './asset-meta.ts';
import { registerUpload, type AssetMeta } from './register.ts';
import { AssetCreatedSchema, toCreated } from '../assets/schemas.ts';
import { errorResponses } from '../http/schemas.ts';
import { InflightUploads } from '../intake/inflight.ts';
import { asIncomplete } from '../intake/incomplete.ts';
import { intake } from '../intake/intake.ts';
import { countUploads } from '../intake/metrics.ts';

const UploadForm = Type.Object({
  deviceAssetId: Type.String({ maxLength: 255, description: "The phone's own id for the asset" }),
  fileName: Type.Optional(Type.String({ maxLength: 255, description: "Defaults to the file part's filename" })),
  fileCreatedAt: Type.Optional(Type.String({ format: 'date-time' })),
  sha256: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'When given, verified against the content' })),
  file: Type.String({ format: 'binary', description: 'The photo or video; must come after the text fields' }),
});

const TEXT_FIELDS = new Set(['deviceAssetId', 'fileName', 'fileCreatedAt', 'sha256']);
// Room for the multipart envelope around the file when judging Content-Length up front.
const ENVELOPE_ALLOWANCE = 64 * 1024;
// How long the request may sit paused or ended, with no file being written, before the parser counts as stalled (see partsOf).
const PARSER_STALL_MS = 2000;

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
 * stalls for good when a part it skips (one without a form-data Content-Disposition, e.g. pushed out by a flood of
 * header pairs) fills its buffer and ends within one write: the write callback waits for the skipped part to be read
 * again, which never happens once it has ended. The request then stays paused (or ended) and would hang until the
 * connection timeout. While we wait for the next part no file of ours is being written, so nothing legitimate holds
 * the parser back: a request paused or ended for PARSER_STALL_MS without a next part is a malformed body.
 */
async function* partsOf(request: FastifyRequest, signal: AbortSignal): AsyncGenerator<Multipart> {
  const iterator = request.parts()[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<Multipart>;
    try {
      next = await nextOrStall(iterator, request.raw, signal);
    } catch (err) {
      throw asParserError(err);
    }
    if (next.done) return;
    yield next.value;
  }
}

function nextOrStall<T>(iterator: AsyncIterator<T>, raw: IncomingMessage, signal: AbortSignal): Promise<IteratorResult<T>> {
  return new Promise((resolve, reject) => {
    const aborted = () => (settle(), reject(signal.reason));
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', aborted);
    let timer: NodeJS.Timeout | undefined;
    const stalled = () => (settle(), reject(new ApiError('validation_failed', 'Malformed multipart body: the parser stopped before the end')));
    const check = () => {
      const idle = raw.readableEnded || raw.isPaused();
      if (idle && !timer) {
        timer = setTimeout(stalled, PARSER_STALL_MS);
      } else if (!idle && timer) {
        clearTimeout(timer);
        timer = undefined;
      }
    };
    const events = ['pause', 'resume', 'end'] as const;
    for (const e of events) raw.on(e, check);
    check();
    const settle = () => {
      clearTimeout(timer);
      for (const e of events) raw.off(e, check);
      signal.removeEventListener('abort', aborted);
    };
    iterator.next().then(
      (value) => (settle(), resolve(value)),
      (err: unknown) => (settle(), reject(err)),
    );
  });
}

export default async function uploadRoute(
  app: FastifyInstance,
  { services, uploads = new InflightUploads(services.config.uploadIdleMs) }: { services: Services; uploads?: InflightUploads },
) {
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
      // Its one write is registerUpload, which checks the device again as it commits: the token lookup may be cached.
      onRequest: requireDevice(services, { recheckedAtCommit: true }),
      onResponse: countUploads(services.metrics),
      // The body is parsed (and judged) as it streams; the schema below documents it, it does not validate it.
      validatorCompiler: () => () => true,
      schema: {
        summary: 'Upload one photo or video (multipart: text fields first, then one file part `file`)',
        tags: ['device'],
        consumes: ['multipart/form-data'],
        body: UploadForm,
        response: { 200: AssetCreatedSchema, 201: AssetCreatedSchema, ...errorResponses(400, 401, 403, 413, 415, 422, 507) },
      },
    },
    async (request, reply) => {
      const dev = device(request);
      return intake(services, uploads, request, reply, async (upload) => {
        const declared = Number(request.headers['content-length']);
        if (declared > config.maxUploadBytes + ENVELOPE_ALLOWANCE) {
          throw new ApiError('payload_too_large', `File exceeds the limit of ${config.maxUploadBytes} bytes`);
        }
        const fields: Record<string, string> = {};
        let temp: TempBlob | undefined;
        let meta: AssetMeta | undefined;
        let declaredSha: string | undefined;
        let truncated = false;
        for await (const part of partsOf(request, upload.signal)) {
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
          temp = await upload.receive(part.file, config.maxUploadBytes);
          truncated = part.file.truncated;
        }
        if (!temp || !meta) throw new ApiError('validation_failed', 'A file part named "file" is required');
        if (truncated) throw new ApiError('payload_too_large', `File exceeds the limit of ${config.maxUploadBytes} bytes`);
        if (declaredSha && declaredSha !== temp.sha256) {
          throw new ApiError('hash_mismatch', `Declared sha256 ${declaredSha} does not match the content (${temp.sha256})`);
        }
        const registered = await registerUpload(services, dev, temp, meta);
        upload.committed(registered.duplicate ? 'duplicate' : 'created');
        const asset = { id: registered.assetId, sha256: temp.sha256, ...registered.view };
        return reply.code(registered.duplicate ? 200 : 201).send(toCreated(asset, registered.duplicate));
      });
    },
  );
}
