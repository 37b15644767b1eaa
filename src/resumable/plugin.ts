import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { findAsset } from '../assets/asset-view.ts';
import { Type, type TSchema } from '@sinclair/typebox';
import { AssetCreatedSchema, toCreated } from '../assets/schemas.ts';
import { errorResponses } from '../http/schemas.ts';
import { device, requireDevice } from '../http/auth.ts';
import { answerError } from '../http/error-handler.ts';
import { ApiError } from '../http/errors.ts';
import { isId } from '../db/ids.ts';
import type { InflightUploads } from '../intake/inflight.ts';
import { intake } from '../intake/intake.ts';
import { countUploads } from '../intake/metrics.ts';
import type { Services } from '../services.ts';
import { ResumableUploads, type Completed } from './engine.ts';
import { sendUploadResumption } from './interim.ts';
import { tryLockInTx, UploadLocks } from './lock.ts';
import {
  checkAppendType,
  completesUpload,
  completionHeader,
  declaredSha256,
  hasBody,
  intHeader,
  parseChecksum,
  parseMetadata,
  parseReprDigest,
  protocolOf,
  ResumableError,
  TUS_CHECKSUM_ALGORITHMS,
  TUS_EXTENSIONS,
  TUS_VERSION,
  type Protocol,
} from './protocol.ts';
import type { UploadRow } from './store.ts';

const BASE = '/api/v1/uploads';

/**
 * The resumable upload endpoint, /api/v1/uploads: tus 1.0 and the IETF resumable-upload draft (interop 3, 5, 6, 7,
 * 8) on one set of routes, written on Fastify (see README "Resumable uploads" for why not @tus/server). Bodies are
 * raw streams (no parser reads them); every append is one of the in-flight uploads (shutdown, idle timeout); a
 * completed upload goes through the same intake as every door, once.
 */
export default async function resumableRoutes(
  app: FastifyInstance,
  { services, uploads }: { services: Services; uploads: InflightUploads },
) {
  const locks = new UploadLocks(services.config.databaseUrl);
  const resumable = new ResumableUploads(services, locks);
  app.addHook('onClose', async () => {
    await resumable.store.handles.closeAll();
    await locks.close();
  });

  // Appends are read by the handlers as they stream: whatever the content type, the parser leaves the body alone.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  installErrorHandler(app);
  app.addHook('onSend', async (request, reply) => {
    if (request.headers['upload-draft-interop-version'] === undefined) reply.header('tus-resumable', TUS_VERSION);
    reply.header('cache-control', 'no-store');
  });

  const auth = requireDevice(services);
  // An append's writes are the offset, recorded under a row read that checks the device is not revoked (lockAndFind),
  // and the registration, which checks it again as it commits: its token lookup may be cached.
  const appendAuth = requireDevice(services, { recheckedAtCommit: true });
  const counted = countUploads(services.metrics);
  const hidden = { hide: true } as const;
  // Documented, not validated: the requests are headers and raw bytes, judged by the handlers.
  const doc = (summary: string, responses: Record<number, TSchema>) => ({
    summary,
    tags: ['device'],
    response: responses,
  });
  const noBody = (description: string) => Type.Null({ description });
  const errors = errorResponses(400, 401, 404, 409, 413, 415, 422, 507);

  app.options('/uploads', { schema: hidden }, async (_request, reply) => discovery(reply, services).code(204).send());
  app.options('/uploads/:id', { schema: hidden }, async (_request, reply) => discovery(reply, services).code(204).send());

  app.post(
    '/uploads',
    {
      onRequest: auth,
      onResponse: counted,
      schema: doc('Create a resumable upload (tus 1.0 creation, or the IETF resumable-upload draft); a body is appended at once', {
        201: Type.Union([AssetCreatedSchema, Type.Null()], {
          description: 'Created (Location, Upload-Offset); with the asset when the body completed it',
        }),
        ...errors,
      }),
    },
    async (request, reply) => {
      const proto = protocolOf(request);
      const dev = device(request);
      const { meta, sha256: metaSha } = parseMetadata(request);
      const sha256 = declaredSha256(metaSha, parseReprDigest(request));
      const withBody = hasBody(request);
      let length: number | null;
      let final: boolean | undefined;
      if (proto.kind === 'tus') {
        const declared = intHeader(request, 'upload-length');
        const deferred = request.headers['upload-defer-length'];
        if ((declared === undefined) === (deferred === undefined))
          throw new ApiError('validation_failed', 'Send either Upload-Length or Upload-Defer-Length: 1');
        if (deferred !== undefined && deferred !== '1') throw new ApiError('validation_failed', 'Upload-Defer-Length must be 1');
        length = declared ?? null;
        if (withBody) checkAppendType(request, proto);
      } else {
        final = completesUpload(request, proto);
        length = intHeader(request, 'upload-length') ?? null;
        const contentLength = intHeader(request, 'content-length');
        if (final && length === null && contentLength !== undefined) length = contentLength;
      }
      if (length !== null && length > services.config.maxUploadBytes) {
        throw new ApiError('payload_too_large', `File exceeds the limit of ${services.config.maxUploadBytes} bytes`);
      }
      const maxOpen = services.config.resumable.maxOpenPerDevice;
      if ((await resumable.store.openCount(dev.id)) >= maxOpen) {
        throw new ApiError('rate_limited', `This device has ${maxOpen} unfinished uploads: finish or delete some first`);
      }
      const protocol = proto.kind === 'tus' ? 'tus' : `ietf-${proto.version}`;
      const created = await resumable.store.create({ deviceId: dev.id, protocol, length, meta, sha256 });
      reply.header('location', `${BASE}/${created.id}`);
      // A creation with nothing to append: the upload exists, empty (or, for a zero-length upload, is done).
      if (!withBody && !final && length !== 0) {
        return answerProgress(reply.code(201), proto, created, services);
      }
      const lock = await locks.tryAcquire(created.id);
      if (!lock) throw resumable.busy(proto);
      if (proto.kind === 'ietf' && withBody) sendUploadResumption(reply.raw, `${BASE}/${created.id}`, proto.version);
      // The answer goes out only once the lock is released: a client sending its next append as soon as it reads
      // this one's answer must not find the upload still locked.
      let answer: () => unknown;
      try {
        answer = await intake(services, uploads, request, reply, async (upload) => {
          const { row, completed } = await resumable.append(
            request,
            upload,
            dev,
            lock,
            created,
            { offset: 0, ...(final !== undefined ? { final } : {}) },
            withBody,
          );
          if (completed) return () => answerCompleted(reply, proto, row, completed, services, 201);
          return () => answerProgress(reply.code(201), proto, row, services);
        });
      } finally {
        await lock.release();
      }
      return answer();
    },
  );

  app.head(
    '/uploads/:id',
    {
      onRequest: auth,
      schema: doc('The upload offset durable on disk (Upload-Offset, Upload-Length; Upload-Complete for the draft)', {
        200: noBody('tus: the offset'),
        204: noBody('draft: the offset'),
        ...errorResponses(400, 401, 404),
      }),
    },
    async (request, reply) => {
      const proto = protocolOf(request);
      const dev = device(request);
      let row = await findRow(resumable, request, dev.id);
      // All bytes durable but the completion never ran (a crash in between): finish it now, as the client will
      // take a full offset for done.
      if (!row.completedAt && row.length !== null && row.offset === row.length) {
        const lock = await locks.tryAcquire(row.id);
        if (!lock) throw resumable.busy(proto);
        try {
          row = await findRow(resumable, request, dev.id);
          if (!row.completedAt && row.length !== null && row.offset === row.length) {
            const completed = await resumable.complete(dev, row, null);
            row = { ...row, assetId: completed.assetId, duplicate: completed.duplicate, completedAt: new Date() };
          }
        } finally {
          await lock.release();
        }
      }
      reply.header('upload-offset', String(row.offset));
      if (row.length !== null) reply.header('upload-length', String(row.length));
      else if (proto.kind === 'tus') reply.header('upload-defer-length', '1');
      if (row.assetId) reply.header('x-asset-id', row.assetId);
      if (proto.kind === 'tus') {
        reply.header('upload-expires', row.expiresAt.toUTCString());
        return reply.code(200).send();
      }
      const [name, value] = completionHeader(proto, row.completedAt !== null);
      reply.header(name, value);
      if (proto.version >= 6) reply.header('upload-limit', uploadLimit(services));
      return reply.code(204).send();
    },
  );

  app.patch(
    '/uploads/:id',
    {
      onRequest: appendAuth,
      onResponse: counted,
      schema: doc(
        'Append at Upload-Offset (application/offset+octet-stream or application/partial-upload); the last append answers the asset',
        {
          200: AssetCreatedSchema,
          201: AssetCreatedSchema,
          204: noBody('Appended (Upload-Offset); for tus also when it completed the upload (X-Asset-Id)'),
          ...errors,
        },
      ),
    },
    async (request, reply) => {
      const proto = protocolOf(request);
      const dev = device(request);
      const offset = intHeader(request, 'upload-offset');
      if (offset === undefined) throw new ApiError('validation_failed', 'Upload-Offset is required');
      const withBody = hasBody(request);
      if (withBody) checkAppendType(request, proto);
      const final = proto.kind === 'ietf' ? completesUpload(request, proto) : undefined;
      const length = intHeader(request, 'upload-length');
      const checksum = proto.kind === 'tus' ? parseChecksum(request) : undefined;
      const sha256 = parseReprDigest(request);
      // The lock, then the row read under it (another request may have appended, finished or deleted the upload
      // until then), in one round trip. An id that names nothing is locked for nothing, briefly.
      const locked = await resumable.store.lockAndFind(locks, uploadId(request), dev.id);
      if (!locked) throw resumable.busy(proto);
      const { lock } = locked;
      // The answer goes out only once the lock is released: a client sending its next append as soon as it reads
      // this one's answer must not find the upload still locked.
      let answer: () => unknown;
      try {
        answer = await intake(services, uploads, request, reply, async (upload) => {
          const row = locked.row;
          if (!row) throw noSuchUpload();
          // The token may have been taken from the cache: the row read checked the device.
          if (locked.deviceRevoked) throw new ApiError('unauthorized', 'Invalid or revoked device token');
          if (row.completedAt) return () => answerRetry(request, reply, proto, row, offset);
          const { row: next, completed } = await resumable.append(
            request,
            upload,
            dev,
            lock,
            row,
            {
              offset,
              ...(final !== undefined ? { final } : {}),
              ...(length !== undefined ? { length } : {}),
              ...(checksum ? { checksum } : {}),
              ...(sha256 ? { sha256 } : {}),
            },
            withBody,
          );
          if (completed) return () => answerCompleted(reply, proto, next, completed, services, proto.kind === 'tus' ? 204 : undefined);
          return () => answerProgress(reply.code(204), proto, next, services);
        });
      } finally {
        await lock.release();
      }
      return answer();
    },
  );

  app.delete(
    '/uploads/:id',
    {
      onRequest: auth,
      schema: doc('Abandon the upload and remove its bytes', { 204: noBody('Deleted'), ...errorResponses(401, 404, 409) }),
    },
    async (request, reply) => {
      const proto = protocolOf(request);
      const dev = device(request);
      const row = await findRow(resumable, request, dev.id);
      const removed = await services.db.$transaction(async (tx) => {
        if (!(await tryLockInTx(tx, row.id))) return false;
        await tx.resumableUpload.deleteMany({ where: { id: row.id } });
        return true;
      });
      if (!removed) throw resumable.busy(proto);
      resumable.checkpoints.drop(row.id);
      await resumable.store.unlinkPart(row.id);
      return reply.code(204).send();
    },
  );

  /** A request on an upload already complete: a retried final append gets the same answer; anything else is a conflict. */
  async function answerRetry(request: FastifyRequest, reply: FastifyReply, proto: Protocol, row: UploadRow, offset: number) {
    const contentLength = Number(request.headers['content-length'] ?? 0);
    if (offset === row.offset || offset + contentLength === row.offset) {
      return answerCompleted(
        reply,
        proto,
        row,
        { assetId: row.assetId!, duplicate: row.duplicate },
        services,
        proto.kind === 'tus' ? 204 : undefined,
      );
    }
    throw new ApiError('conflict', `The upload is already complete at ${row.offset} bytes`);
  }
}

const noSuchUpload = () => new ApiError('not_found', 'No such upload (it may have expired or been deleted)');

/** The upload id in the URL; one that cannot be an id names no upload. */
function uploadId(request: FastifyRequest): string {
  const id = (request.params as { id: string }).id;
  if (!isId(id)) throw noSuchUpload();
  return id;
}

async function findRow(resumable: ResumableUploads, request: FastifyRequest, deviceId: string): Promise<UploadRow> {
  const row = await resumable.store.find(uploadId(request), deviceId);
  if (!row) throw noSuchUpload();
  return row;
}

/**
 * Upload-Limit: the largest append clients are told to send (RESUMABLE_MAX_APPEND_BYTES, 64 MiB by default: below the
 * 100 MB request bodies common proxies such as Cloudflare's free plan accept, so a client behind one never meets a
 * 413 for a whole-file append). Advice, not a limit: the relay takes appends of any size up to MAX_UPLOAD_BYTES,
 * as tus clients, which are told nothing of it, may send them.
 */
function uploadLimit(services: Services): string {
  return `max-size=${services.config.maxUploadBytes}, max-append-size=${services.config.resumable.maxAppendBytes}`;
}

function discovery(reply: FastifyReply, services: Services): FastifyReply {
  return reply.headers({
    'tus-version': TUS_VERSION,
    'tus-extension': TUS_EXTENSIONS,
    'tus-max-size': String(services.config.maxUploadBytes),
    'tus-checksum-algorithm': TUS_CHECKSUM_ALGORITHMS,
    'upload-limit': uploadLimit(services),
  });
}

/** The answer to a request that left the upload incomplete. */
function answerProgress(reply: FastifyReply, proto: Protocol, row: UploadRow, services: Services) {
  reply.header('upload-offset', String(row.offset));
  if (proto.kind === 'tus') {
    reply.header('upload-expires', row.expiresAt.toUTCString());
  } else {
    const [name, value] = completionHeader(proto, false);
    reply.header(name, value);
    if (proto.version >= 6) reply.header('upload-limit', uploadLimit(services));
  }
  return reply.send();
}

/**
 * The answer to the request that finished the upload (or a retry of it): the asset, as X-Asset-Id and, where the
 * protocol allows a body (not tus's 204 to a PATCH), as the native door's JSON.
 */
async function answerCompleted(
  reply: FastifyReply,
  proto: Protocol,
  row: UploadRow,
  completed: Completed,
  services: Services,
  status?: 201 | 204,
) {
  reply.header('upload-offset', String(row.offset));
  reply.header('x-asset-id', completed.assetId);
  if (proto.kind === 'ietf') {
    const [name, value] = completionHeader(proto, true);
    reply.header(name, value);
  }
  if (status === 204) return reply.code(204).send();
  const asset = await findAsset(services.db, completed.assetId);
  if (!asset) throw new ApiError('not_found', 'The asset this upload became is gone');
  return reply.code(status ?? (completed.duplicate ? 200 : 201)).send(toCreated(asset, completed.duplicate));
}

/** The relay's one error answer, with the statuses only this endpoint uses (412, 423, 460). */
function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err, request, reply) =>
    answerError(err, request, reply, {
      own: (e) => (e instanceof ResumableError ? e : null),
      decorate: (status, r) => {
        if (status === 412) r.header('tus-version', TUS_VERSION);
      },
    }),
  );
}
