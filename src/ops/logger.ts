import pino, { type Logger, type LoggerOptions } from 'pino';

/** Credentials never reach a log line, wherever they hide in a request or an object we log. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  '*.token',
  '*.refreshToken',
  '*.refresh_token',
  '*.accessToken',
  '*.access_token',
  '*.id_token',
  '*.client_secret',
  '*.code',
  '*.password',
  'config.adminToken',
  'config.encryptionKey',
];

const SECRET_QUERY = /([?&](?:code|state|token|access_token|refresh_token)=)[^&]*/gi;

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req(req: { method: string; url: string; ip?: string; headers?: Record<string, unknown> }) {
        return { method: req.method, url: req.url.replace(SECRET_QUERY, '$1[redacted]'), remoteAddress: req.ip };
      },
    },
  };
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(loggerOptions(level), destination);
}
