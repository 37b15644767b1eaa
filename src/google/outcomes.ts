/**
 * What to do about every answer Google can give (Google's Photos Library API documentation, and src/emulator/README.md for what the emulator mimics), as one table.
 *  - transient: retry the same step with exponential backoff and jitter from 1 s
 *  - rate_limited: wait at least 30 s, or Retry-After, before anything else goes to this account
 *  - quota_exhausted: the project's daily budget is spent: wait for the reset at midnight Pacific
 *  - unauthenticated: the access token was refused: refresh it and try once more
 *  - reauth: the link is broken (refresh token revoked or expired, scopes missing): hold the account
 *  - reupload: the upload token is invalid or expired: send the bytes again
 *  - permanent: Google will never accept this item: mark it failed with the reason
 */
export type Outcome = 'transient' | 'rate_limited' | 'quota_exhausted' | 'unauthenticated' | 'reauth' | 'reupload' | 'permanent';

export class GoogleError extends Error {
  constructor(
    readonly outcome: Outcome,
    message: string,
    readonly details: { status?: number; retryAfterMs?: number; googleStatus?: string; cutShort?: CutShortReason } = {},
  ) {
    super(message);
    this.name = 'GoogleError';
  }
}

/** Google: "429 → wait at least 30 s". Retry-After, when longer, wins. */
export const MIN_RATE_LIMIT_WAIT_MS = 30_000;

export function rateLimitWaitMs(err: GoogleError, minimumMs = MIN_RATE_LIMIT_WAIT_MS): number {
  return Math.max(minimumMs, err.details.retryAfterMs ?? 0);
}

/**
 * Why the relay itself ended a request to Google before its answer: the peer stopped making progress (`stalled`),
 * the request outlived its deadline (`deadline`), or the worker is closing (`closing`). Each is transient: the step
 * is tried again later (after a restart, for `closing`), never marked failed.
 */
export type CutShortReason = 'stalled' | 'deadline' | 'closing';

export class RequestCutShort extends Error {
  constructor(
    readonly reason: CutShortReason,
    message: string,
  ) {
    super(message);
    this.name = 'RequestCutShort';
  }
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** A request that never got an HTTP answer: the connection failed or was cut. */
export function classifyNetworkError(err: unknown): GoogleError {
  const cut = err instanceof RequestCutShort ? err : (err as { cause?: unknown } | null)?.cause;
  if (cut instanceof RequestCutShort) return new GoogleError('transient', cut.message, { cutShort: cut.reason });
  const e = err as { code?: string; cause?: { code?: string }; message?: string; name?: string };
  const code = e.cause?.code ?? e.code;
  if ((code && NETWORK_CODES.has(code)) || e.name === 'AbortError' || e.name === 'TimeoutError' || /fetch failed|terminated|socket/i.test(e.message ?? '')) {
    return new GoogleError('transient', `network error talking to Google: ${code ?? e.message}`);
  }
  return new GoogleError('transient', `unexpected error talking to Google: ${e.message ?? String(err)}`);
}

/** Google's error body: the usual envelope `{error:{code,message,status}}`, or a bare `{code,message}` from uploads. */
export function parseErrorBody(text: string): { message: string; status?: string } {
  try {
    const body = JSON.parse(text) as { error?: { message?: string; status?: string } | string; message?: string; error_description?: string };
    if (body.error && typeof body.error === 'object') return { message: body.error.message ?? text, ...(body.error.status ? { status: body.error.status } : {}) };
    if (typeof body.error === 'string') return { message: body.error_description ?? body.error, status: body.error };
    if (body.message) return { message: body.message };
  } catch {
    /* plain text */
  }
  return { message: text.slice(0, 500) || '(empty body)' };
}

function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const UPLOAD_TOKEN_PROBLEM = /upload token/i;
const DAILY_QUOTA = /per day|daily/i;

/** Classify an HTTP error answer of the Photos Library API. */
export function classifyHttpError(status: number, bodyText: string, headers: Headers, now = Date.now()): GoogleError {
  const { message, status: googleStatus } = parseErrorBody(bodyText);
  const details = { status, ...(googleStatus ? { googleStatus } : {}) };
  const text = `Google answered ${status}${googleStatus ? ` ${googleStatus}` : ''}: ${message}`;
  if (status === 429) {
    if (DAILY_QUOTA.test(message)) return new GoogleError('quota_exhausted', text, details);
    const wait = retryAfterMs(headers.get('retry-after'), now);
    return new GoogleError('rate_limited', text, { ...details, ...(wait !== undefined ? { retryAfterMs: wait } : {}) });
  }
  if (status >= 500 || status === 408) return new GoogleError('transient', text, details);
  if (status === 401) return new GoogleError('unauthenticated', text, details);
  if (status === 403) return new GoogleError('reauth', text, details);
  if (status === 400 && UPLOAD_TOKEN_PROBLEM.test(message)) return new GoogleError('reupload', text, details);
  return new GoogleError('permanent', text, details);
}

/** Classify the token endpoint's refusal: invalid_grant means the refresh token is dead. */
export function classifyTokenError(status: number, bodyText: string): GoogleError {
  const { message, status: error } = parseErrorBody(bodyText);
  if (error === 'invalid_grant' || error === 'unauthorized_client' || error === 'invalid_client') {
    return new GoogleError('reauth', `Google refused the refresh token (${error}): ${message}`, { status });
  }
  if (status === 429) return new GoogleError('rate_limited', `token endpoint: ${message}`, { status });
  if (status >= 500) return new GoogleError('transient', `token endpoint ${status}: ${message}`, { status });
  return new GoogleError('reauth', `token endpoint ${status}: ${message}`, { status });
}

export type ItemOutcome = { kind: 'created'; mediaItemId: string | null } | { kind: 'error'; error: GoogleError };

/** Per-item status codes of batchCreate (google.rpc.Code). */
export function classifyItemStatus(code: number | undefined, message: string | undefined, mediaItemId: string | undefined): ItemOutcome {
  const text = `Google refused the item (code ${code ?? 0}): ${message ?? ''}`.trim();
  if (!code && mediaItemId) return { kind: 'created', mediaItemId };
  // ALREADY_EXISTS: the library holds these bytes already; Google deduplicates identical content.
  if (code === 6) return { kind: 'created', mediaItemId: mediaItemId ?? null };
  if (!code) return { kind: 'error', error: new GoogleError('transient', 'Google answered success without a media item') };
  if (UPLOAD_TOKEN_PROBLEM.test(message ?? '')) return { kind: 'error', error: new GoogleError('reupload', text) };
  // INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, FAILED_PRECONDITION, OUT_OF_RANGE, UNIMPLEMENTED: never accepted.
  if ([3, 5, 7, 9, 11, 12].includes(code)) return { kind: 'error', error: new GoogleError('permanent', text) };
  // INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED, UNKNOWN…: try again.
  return { kind: 'error', error: new GoogleError('transient', text) };
}
