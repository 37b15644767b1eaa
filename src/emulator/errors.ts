import type { FastifyReply } from 'fastify';

/** HTTP status → google.rpc canonical status name, as Google's JSON error envelope spells it. */
const CANONICAL: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Numeric google.rpc codes, used in per-item statuses and in "bare" upload errors. */
export const RPC_CODE: Record<string, number> = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
};

export const MSG = {
  unauthenticated:
    'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
  insufficientScopes: 'Request had insufficient authentication scopes.',
  dailyQuota:
    "Quota exceeded for quota metric 'All requests' and limit 'All requests per day' of service 'photoslibrary.googleapis.com' for consumer 'project_number:1'.",
  writesPerMinute:
    "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user' of service 'photoslibrary.googleapis.com' for consumer 'project_number:1'.",
  concurrentWrites:
    "Quota exceeded for quota metric 'Concurrent write requests' and limit 'Concurrent write requests per user' of service 'photoslibrary.googleapis.com' for consumer 'project_number:1'.",
  invalidUploadToken: 'Request must contain a valid upload token.',
  tooManyItems: 'Request must have less than 50 items.',
  createFailed: 'Failed: There was an error while trying to create this media item.',
  alreadyExists: 'The media item already exists in the library.',
  internal: 'Internal error encountered.',
  unavailable: 'The service is currently unavailable.',
  success: 'Success',
};

export function canonicalOf(status: number): string {
  return CANONICAL[status] ?? (status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT');
}

export function googleErrorBody(status: number, message: string, canonical = canonicalOf(status)) {
  return { error: { code: status, message, status: canonical } };
}

export function sendGoogleError(reply: FastifyReply, status: number, message: string, canonical?: string): FastifyReply {
  return reply.code(status).type('application/json; charset=UTF-8').send(googleErrorBody(status, message, canonical));
}

/** Google's front ends answer 502 with an HTML page, not JSON: clients must not assume a JSON error body. */
export function sendServerFault(reply: FastifyReply, status: number): FastifyReply {
  if (status === 502) {
    return reply
      .code(502)
      .type('text/html; charset=UTF-8')
      .send('<!DOCTYPE html><html><title>Error 502 (Server Error)!!1</title><p><b>502.</b> That’s an error.</p></html>');
  }
  return sendGoogleError(reply, status, status === 503 ? MSG.unavailable : MSG.internal);
}
