import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
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
  FST_INVALID_JSON_FIELD_ERROR: 'validation_failed',
  FST_ERR_CTP_INVALID_TYPE: 'validation_failed',
  FST_ERR_INVALID_URL: 'validation_failed',
  // Raised by the router before any route runs (see frameworkErrors below): a %-escape that decodes to nothing valid
  // is a malformed request; a path segment longer than any id the relay issues names nothing here.
  FST_ERR_BAD_URL: 'validation_failed',
  FST_ERR_MAX_PARAM_LENGTH: 'not_found',
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

/**
 * Fastify's `frameworkErrors` option: errors the router raises before a route (and so this plugin's error handler) is
 * chosen. Without it Fastify answers with its own codes (FST_ERR_BAD_URL, FST_ERR_MAX_PARAM_LENGTH), off the contract.
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const apiError = toApiError(err) ?? new ApiError('validation_failed', 'Malformed request');
  request.log.info({ code: apiError.code, reason: err.code }, 'request rejected by the router');
  void reply.code(apiError.statusCode).send(errorBody(apiError.statusCode, apiError.code, apiError.message));
}

/**
 * Node answers an `Expect` other than `100-continue` itself, with a bare 417 and no body, unless the server listens for
 * 'checkExpectation'. The relay supports no other expectation (RFC 9110 §10.1.1), so it answers 417 too, in the
 * contract's JSON shape; the code is validation_failed (the contract has no code of its own for 417) and the connection
 * closes, as the body was never read.
 */
export function refuseExpectation(request: IncomingMessage, response: ServerResponse): void {
  const body = JSON.stringify(
    errorBody(417, 'validation_failed', `Unsupported expectation: ${String(request.headers.expect).slice(0, 100)}`),
  );
  response.writeHead(417, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  response.end(body);
}

/** A door's own statuses beyond the contract's table (WebDAV's 405/412, tus's 412/423/460), as they are. */
export interface DoorError {
  statusCode: number;
  code: string;
  message: string;
}

export interface ErrorScope {
  /** Recognise the door's own errors; null for everything else (mapped by toApiError). */
  own?: (err: unknown) => DoorError | null;
  /** Headers the door adds to an error answer (a Basic challenge on 401, Tus-Version on 412). */
  decorate?: (status: number, reply: FastifyReply) => void;
}

/**
 * Answer an error in the contract's JSON shape: the request's fault at info, a mapped failure (a dependency away) at
 * warn with its original, anything else a 500 whose detail stays in the log, never in the answer. Every door's scope
 * answers through this one function, with its own statuses and headers added.
 */
export function answerError(err: unknown, request: FastifyRequest, reply: FastifyReply, scope: ErrorScope = {}): FastifyReply {
  const known: DoorError | null = scope.own?.(err) ?? toApiError(err as Error);
  let status = 500;
  let code = 'internal';
  let message = 'Internal Server Error';
  if (known) {
    ({ statusCode: status, code, message } = known);
    if (status < 500) request.log.info({ code, reason: message }, 'request rejected');
    else request.log.warn({ code, reason: message, ...(known === err ? {} : { err }) }, 'request failed');
  } else {
    request.log.error({ err }, 'unhandled error');
  }
  scope.decorate?.(status, reply);
  return reply.code(status).type('application/json; charset=utf-8').send(errorBody(status, code, message));
}

/** One place turns every error into the contract's JSON shape. */
export default fp(
  async function errorHandler(app: FastifyInstance) {
    app.setErrorHandler((err, request, reply) => answerError(err, request, reply));
    app.server.on('checkExpectation', refuseExpectation);
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
