import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, errorBody } from '../http/errors.ts';
import { toApiError } from '../http/error-handler.ts';

/** What a client sees when asked for credentials: Basic, the password being a device token. */
export const CHALLENGE = 'Basic realm="Photo Relay WebDAV", charset="UTF-8"';

/**
 * A refusal WebDAV needs a status for that the JSON API never uses (405 on MKCOL of an existing folder, 412 for
 * Overwrite: F). Same answer shape as every other error: `{statusCode, code, error, message}`.
 */
export class DavError extends Error {
  constructor(
    readonly statusCode: 405 | 412,
    readonly code: 'method_not_allowed' | 'precondition_failed',
    message: string,
  ) {
    super(message);
    this.name = 'DavError';
  }
}

export const notAllowed = (message: string) => new DavError(405, 'method_not_allowed', message);
export const preconditionFailed = (message: string) => new DavError(412, 'precondition_failed', message);
export const badRequest = (message: string) => new ApiError('validation_failed', message);
export const notFound = (message = 'No such file or folder') => new ApiError('not_found', message);
export const conflict = (message: string) => new ApiError('conflict', message);
export const forbidden = (message: string) => new ApiError('forbidden', message);

/**
 * The WebDAV scope's error handler: the relay's JSON error shape (never a stack trace, 5xx detail only in the log),
 * plus the two things WebDAV adds: its own statuses (DavError) and a Basic challenge on every 401, without which
 * clients never send credentials.
 */
export function installErrorHandler(app: FastifyInstance, mapError: (err: unknown, request: FastifyRequest) => unknown = (e) => e): void {
  app.setErrorHandler((original, request, reply) => {
    const err = mapError(original, request) as typeof original;
    let status: number;
    let code: string;
    let message: string;
    if (err instanceof DavError) {
      ({ statusCode: status, code, message } = err);
    } else {
      const apiError = toApiError(err as FastifyError);
      if (!apiError) {
        request.log.error({ err }, 'unhandled error');
        status = 500;
        code = 'internal';
        message = 'Internal Server Error';
      } else {
        ({ statusCode: status, code, message } = apiError);
      }
    }
    if (status < 500) request.log.info({ code, reason: message }, 'webdav request rejected');
    else if (status !== 500) request.log.warn({ code, reason: message }, 'webdav request failed');
    if (status === 401) reply.header('www-authenticate', CHALLENGE);
    // Shutting down, or the device's folder busy with a long operation: the client should come back, not give up.
    if (status === 503) reply.header('retry-after', '5');
    return reply
      .code(status)
      .type('application/json; charset=utf-8')
      .send(errorBody(status, code, message));
  });
}
