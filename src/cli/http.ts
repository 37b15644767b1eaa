import http from 'node:http';
import https from 'node:https';
import { ApiError, NetworkError, socketCode } from './errors.ts';

/**
 * When a failed request may be sent again:
 * - `always`: the request is idempotent (GET, DELETE, and the device calls, which the contract makes idempotent);
 * - `unsent`: only when the relay certainly did not act on it (connection refused, 429, 503);
 * - `never`.
 */
export type RetryMode = 'always' | 'unsent' | 'never';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** Base of the exponential backoff, in milliseconds. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Called before each wait, e.g. to say so on the terminal. */
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown; what: string }) => void;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 500, maxDelayMs: 30_000 };
/** The longest Retry-After honoured; a longer one fails the request instead of hanging the CLI. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;
const REQUEST_TIMEOUT_MS = 60_000;

/** Socket errors that prove the request never reached the relay. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Is this failure worth another attempt under `mode`? */
export function isRetryable(err: unknown, mode: RetryMode): boolean {
  if (mode === 'never') return false;
  if (err instanceof ApiError) {
    if (err.status === 429 || err.status === 503) return true;
    return mode === 'always' && err.status >= 500 && err.status !== 501 && err.status !== 507;
  }
  if (err instanceof NetworkError) {
    if (mode === 'always') return true;
    const code = socketCode(err.cause);
    return code !== undefined && NOT_SENT_CODES.has(code);
  }
  return false;
}

/** Parse Retry-After: seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function backoffMs(attempt: number, policy: RetryPolicy): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(exp / 2 + (Math.random() * exp) / 2); // jitter: half to all of the exponential step
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RetryHooks {
  /** Which failures are worth another attempt (default: isRetryable under the mode). */
  retryable?: (err: unknown) => boolean;
  /**
   * How far the work has got (e.g. bytes the relay holds): a failure after progress starts the count of retries
   * again, so a long transfer over a flaky link goes on as long as each attempt moves it forward.
   */
  progress?: () => number;
}

/** Run `attempt` until it succeeds, fails for good, or the retries are spent (then the last error is thrown). */
export async function withRetries<T>(
  what: string,
  mode: RetryMode,
  policy: RetryPolicy,
  attempt: (n: number) => Promise<T>,
  hooks: RetryHooks = {},
): Promise<T> {
  let failures = 0;
  let mark = hooks.progress?.();
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      const now = hooks.progress?.();
      if (now !== undefined && mark !== undefined && now > mark) {
        failures = 0;
        mark = now;
      }
      if (failures >= policy.retries || !(hooks.retryable ?? ((e) => isRetryable(e, mode)))(err)) throw err;
      const retryAfter = err instanceof ApiError ? err.retryAfterMs : undefined;
      if (retryAfter !== undefined && retryAfter > MAX_RETRY_AFTER_MS) throw err;
      const delayMs = Math.max(backoffMs(failures, policy), retryAfter ?? 0);
      failures++;
      policy.onRetry?.({ attempt: failures, delayMs, error: err, what });
      await sleep(delayMs);
    }
  }
}

/** Turn a non-2xx answer into an ApiError carrying the contract's code and message. */
export function apiErrorFrom(status: number, text: string, retryAfterHeader?: string | null): ApiError {
  let code = `http_${status}`;
  let message = text.trim().slice(0, 300) || `HTTP ${status}`;
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown; error?: unknown };
    if (typeof body.code === 'string') code = body.code;
    if (typeof body.message === 'string') message = body.message;
    else if (typeof body.error === 'string') message = body.error;
  } catch {
    /* not JSON (a proxy's page?): keep the text */
  }
  return new ApiError(status, code, message, parseRetryAfter(retryAfterHeader));
}

export interface CallOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  retry?: RetryMode;
}

interface RawResponse {
  status: number;
  body: string;
  retryAfter?: string;
}

/**
 * One request with node:http(s) rather than fetch: fetch refuses the ports the Fetch standard calls "bad" (6000,
 * 6665-6669, 10080…), and a relay may well listen on one of them.
 */
function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<RawResponse> {
  const transport = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, {
      method,
      headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () =>
      req.destroy(Object.assign(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), retryAfter: res.headers['retry-after'] }),
      );
    });
    req.end(body);
  });
}

/** A JSON client for the relay's HTTP API: bearer auth, the contract's errors, retries of transient failures. */
export class RelayClient {
  constructor(
    readonly baseUrl: string,
    readonly token: string | undefined,
    readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  url(path: string, query?: CallOptions['query']): string {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url.href;
  }

  async call<T = unknown>(method: string, path: string, options: CallOptions = {}): Promise<{ status: number; body: T }> {
    const mode = options.retry ?? (method === 'GET' || method === 'DELETE' || method === 'PUT' ? 'always' : 'unsent');
    const url = this.url(path, options.query);
    return withRetries(`${method} ${path}`, mode, this.retry, async () => {
      let res: RawResponse;
      try {
        res = await send(
          url,
          method,
          {
            accept: 'application/json',
            ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
            ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          options.body === undefined ? undefined : JSON.stringify(options.body),
        );
      } catch (err) {
        throw new NetworkError(this.baseUrl, err);
      }
      const text = res.body;
      if (res.status < 200 || res.status >= 300) throw apiErrorFrom(res.status, text, res.retryAfter);
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
    });
  }

  async get<T = unknown>(path: string, query?: CallOptions['query']): Promise<T> {
    return (await this.call<T>('GET', path, { query })).body;
  }

  async post<T = unknown>(path: string, body?: unknown, retry?: RetryMode): Promise<T> {
    return (await this.call<T>('POST', path, { body, retry })).body;
  }

  /** Every item of a paginated list (`{items, nextCursor}`), page by page. */
  async *list<T>(path: string, query: CallOptions['query'] = {}): AsyncGenerator<T> {
    let cursor: string | undefined;
    do {
      const page = await this.get<{ items: T[]; nextCursor: string | null }>(path, { ...query, limit: 1000, cursor });
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
  }

  async all<T>(path: string, query?: CallOptions['query']): Promise<T[]> {
    const items: T[] = [];
    for await (const item of this.list<T>(path, query)) items.push(item);
    return items;
  }
}
