import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError, type ErrorCode, ERROR_CODES, errorBody } from './errors.ts';
import { isDependencyUnavailable } from './unavailable.ts';

/** Seconds a client is asked to wait before trying again after a 503 (a dependency away, or a shutdown). */
export const RETRY_AFTER_SECONDS = 5;

// Errors raised by Fastify and its plugins, by their stable `code`, mapped onto the contract's codes.
const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'validation_failed',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'validation_failed',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  // A Content-Type no route parses is a malformed request: in this API 415 means the *content* of an upload is not a
  // photo or video, and a phone told so would give up on that photo for good.
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'validation_failed',
  FST_ERR_VALIDATION: 'validation_failed',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'validation_failed',
  FST_PARTS_LIMIT: 'validation_failed',
  FST_FILES_LIMIT: 'validation_failed',
  FST_FIELDS_LIMIT: 'validation_failed',
  FST_PROTO_VIOLATION: 'validation_failed',
  FST_REQ_FILE_TOO_LARGE: 'payload_too_large',
};

// The first code listed for a status wins: an unmapped 400 is validation_failed, not incomplete_upload (listed later).
const BY_STATUS: Record<number, ErrorCode> = Object.fromEntries(
  Object.entries(ERROR_CODES)
    .reverse()
    .map(([code, status]) => [status, code as ErrorCode]),
);

export function toApiError(err: FastifyError | Error): ApiError | null {
  if (err instanceof ApiError) return err;
  const e = err as FastifyError;
  if (e.validation) return new ApiError('validation_failed', e.message);
  const mapped = e.code ? FRAMEWORK_CODES[e.code] : undefined;
  if (mapped) return new ApiError(mapped, e.message);
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return new ApiError(BY_STATUS[e.statusCode] ?? 'validation_failed', e.message);
  }
  // Postgres or Redis out of reach is an outage to wait out, not a fault: the driver's text stays in the log.
  if (isDependencyUnavailable(err)) return new ApiError('not_ready', 'A service the relay depends on is unavailable; retry later');
  return null;
}

/** One place turns every error into the contract's JSON shape; 5xx detail stays in the log, never in the answer. */
export default fp(
  async function errorHandler(app: FastifyInstance) {
    app.setErrorHandler((err, request, reply) => {
      const apiError = toApiError(err as Error);
      if (apiError && apiError.statusCode < 500) {
        request.log.info({ code: apiError.code, reason: apiError.message }, 'request rejected');
        return reply.code(apiError.statusCode).send(errorBody(apiError.statusCode, apiError.code, apiError.message));
      }
      if (apiError) {
        // A mapped error (a dependency away) keeps its original in the log.
        request.log.warn({ code: apiError.code, reason: apiError.message, ...(apiError === err ? {} : { err }) }, 'request failed');
        return reply.code(apiError.statusCode).send(errorBody(apiError.statusCode, apiError.code, apiError.message));
      }
      request.log.error({ err }, 'unhandled error');
      return reply.code(500).send(errorBody(500, 'internal', 'Internal Server Error'));
    });
    // Every 503 (a dependency away, readiness, shutdown; WebDAV's own error handler included) says when to come back.
    app.addHook('onSend', async (_request, reply) => {
      if (reply.statusCode === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    });
    app.setNotFoundHandler((request, reply) => {
      reply.code(404).send(errorBody(404, 'not_found', `Route ${request.method} ${request.url.split('?')[0]} not found`));
    });
  },
  { name: 'error-handler' },
);
