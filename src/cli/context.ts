import type { Command } from 'commander';
import { adminToken, relayUrl, type GlobalOptions } from './config.ts';
import { describeError } from './errors.ts';
import { DEFAULT_RETRY, RelayClient, type RetryPolicy } from './http.ts';
import { duration } from './format.ts';

/** What every command needs: the global options, an API client and somewhere to write. */
export interface Context {
  opts: GlobalOptions & { retries?: number };
  url: string;
  out(text?: string): void;
  warn(text: string): void;
  json(value: unknown): void;
  /** A client carrying the admin token (a usage error when none is configured). */
  admin(): RelayClient;
  /** A client carrying a device token, or none (for /api/v1/pair). */
  device(token?: string, retry?: Partial<RetryPolicy>): RelayClient;
  retryPolicy(overrides?: Partial<RetryPolicy>): RetryPolicy;
}

export function contextOf(command: Command): Context {
  const opts = command.optsWithGlobals<GlobalOptions & { retries?: number }>();
  const url = relayUrl(opts);
  const retryPolicy = (overrides: Partial<RetryPolicy> = {}): RetryPolicy => ({
    ...DEFAULT_RETRY,
    ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
    onRetry: ({ what, delayMs, error, attempt }) =>
      process.stderr.write(`warning: ${what} failed (${describeError(error)}); retry ${attempt} in ${duration(delayMs / 1000)}\n`),
    ...overrides,
  });
  return {
    opts,
    url,
    out: (text = '') => process.stdout.write(`${text}\n`),
    warn: (text) => process.stderr.write(`warning: ${text}\n`),
    json: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    // An admin waits at a prompt: fewer retries than a push, which may run unattended for hours.
    admin: () => new RelayClient(url, adminToken(opts), retryPolicy(opts.retries === undefined ? { retries: 2 } : {})),
    device: (token, retry) => new RelayClient(url, token, retryPolicy(retry)),
    retryPolicy,
  };
}
