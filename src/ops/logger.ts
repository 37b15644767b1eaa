import { createRequire } from 'node:module';
import pino, { type Logger, type LoggerOptions } from 'pino';

const CENSOR = '[redacted]';

/**
 * Credentials never reach a log line, wherever they hide in a request or an object we log. Only keys that hold
 * secrets are listed: `code` is not one of them, since `err.code` (ENOSPC, ECONNREFUSED, P2002) is what an operator
 * reads first; the one secret `code` (an OAuth authorization code) travels in a query string, scrubbed below.
 */
const SECRET_KEYS = [
  'authorization',
  'cookie',
  'set-cookie',
  'token',
  'adminToken',
  'deviceToken',
  'refreshToken',
  'refresh_token',
  'accessToken',
  'access_token',
  'id_token',
  'idToken',
  'client_secret',
  'clientSecret',
  'code_verifier',
  'codeVerifier',
  'pairingCode',
  'password',
  'encryptionKey',
];

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'res.headers["set-cookie"]',
  // Top-level keys and keys one level down (`{ err }`, `{ body }`, `{ config }`); deeper ones in errors: see scrub().
  ...SECRET_KEYS.flatMap((key) => (/^\w+$/.test(key) ? [key, `*.${key}`] : [`["${key}"]`, `*["${key}"]`])),
  'config.adminToken',
  'config.encryptionKey',
  'config.google.clientSecret',
];

const SECRET_QUERY = /((?:^|[?&])(?:code|state|token|access_token|refresh_token|code_verifier|client_secret|password)=)[^&\s"]*/gi;
const SECRET_KEY_SET = new Set(SECRET_KEYS.map((k) => k.toLowerCase()));

/**
 * Errors nest what redact paths cannot reach: an HTTP client's error carries its request (`config.headers`,
 * `config.data` with a refresh token and the client secret) and its response. Copy the serialized error with
 * every secret-named key censored and secret query parameters scrubbed from strings, a few levels deep.
 */
function scrub(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return value.replace(SECRET_QUERY, `$1${CENSOR}`);
  if (!value || typeof value !== 'object') return value;
  if (depth > 6 || seen.has(value)) return '[…]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1, seen));
  if (value instanceof URLSearchParams) return scrub(value.toString(), depth + 1, seen);
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEY_SET.has(key.toLowerCase()) ? CENSOR : scrub(v, depth + 1, seen);
  }
  return out;
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: CENSOR },
    serializers: {
      req(req: { method: string; url: string; ip?: string; headers?: Record<string, unknown> }) {
        return { method: req.method, url: req.url.replace(SECRET_QUERY, `$1${CENSOR}`), remoteAddress: req.ip };
      },
      err(err: Error) {
        // errWithCause: a wrapped error keeps its own code (a driver's ECONNREFUSED under an ORM's error) rather
        // than being flattened into the message.
        return scrub(pino.stdSerializers.errWithCause(err), 0, new WeakSet());
      },
    },
  };
}

export type LogFormat = 'pretty' | 'json';

/**
 * Pretty lines for a person at a terminal, JSON for everything else (Docker, systemd, a pipe, a log shipper).
 * pino-pretty is a development dependency: where it is not installed (a production image) the answer is JSON.
 */
export function logFormat(env: { isTTY: boolean | undefined; prettyAvailable: boolean }): LogFormat {
  return env.isTTY === true && env.prettyAvailable ? 'pretty' : 'json';
}

const requireHere = createRequire(import.meta.url);

function loadPretty(): ((options: Record<string, unknown>) => pino.DestinationStream) | null {
  try {
    return requireHere('pino-pretty') as (options: Record<string, unknown>) => pino.DestinationStream;
  } catch {
    return null;
  }
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  if (destination) return pino(loggerOptions(level), destination);
  const pretty = process.stdout.isTTY ? loadPretty() : null;
  if (logFormat({ isTTY: process.stdout.isTTY, prettyAvailable: pretty !== null }) === 'pretty') {
    // In this thread rather than as a pino transport: nothing to resolve from a worker, and a terminal is slow anyway.
    return pino(loggerOptions(level), pretty!({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino(loggerOptions(level));
}
