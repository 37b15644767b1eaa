import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError } from '../http/errors.ts';
import { answerError } from '../http/error-handler.ts';

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
 * The WebDAV scope's error handler: the relay's one error answer (src/http/error-handler.ts), plus what WebDAV adds:
 * its own statuses (DavError) and a Basic challenge on every 401, without which clients never send credentials.
 */
export function installErrorHandler(app: FastifyInstance, mapError: (err: unknown, request: FastifyRequest) => unknown = (e) => e): void {
  app.setErrorHandler((original, request, reply) =>
    answerError(mapError(original, request), request, reply, {
      own: (err) => (err instanceof DavError ? err : null),
      decorate: (status, r) => {
        if (status === 401) r.header('www-authenticate', CHALLENGE);
      },
    }),
  );
}
