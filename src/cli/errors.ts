/** Exit codes of the CLI: 0 success, 1 something failed, 2 usage or configuration error. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** An error whose message is meant for the user as is; `exitCode` says how the process ends. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Bad arguments, flags or environment: exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = 'UsageError';
  }
}

/** An error answer of the relay: its HTTP status and the contract's stable `code`. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly serverMessage: string,
    readonly retryAfterMs?: number,
  ) {
    // A rejected token is a configuration problem (wrong token, wrong relay), not a failed operation.
    super(`${code}: ${serverMessage} (HTTP ${status})`, status === 401 || status === 403 ? EXIT_USAGE : EXIT_FAILURE);
    this.name = 'ApiError';
  }
}

/** The relay could not be reached, or the connection broke (after retries, when retried). */
export class NetworkError extends CliError {
  constructor(
    readonly url: string,
    override readonly cause: unknown,
  ) {
    const code = socketCode(cause);
    const reached = code === 'EPIPE' || code === 'ECONNRESET' || code === 'UND_ERR_SOCKET';
    super(`${reached ? 'lost the connection to' : 'cannot reach'} the relay at ${url}: ${describeCause(cause)}`);
    this.name = 'NetworkError';
  }
}

/** The socket error code (ECONNREFUSED, EPIPE…) under an error and its causes. */
export function socketCode(err: unknown): string | undefined {
  let e = err as { code?: string; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string' && /^(E[A-Z_]+|UND_ERR_\w+)$/.test(e.code)) return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

function describeCause(cause: unknown): string {
  const err = cause as { code?: string; message?: string; cause?: unknown };
  // fetch wraps the socket error: the inner one names the real problem (ECONNREFUSED, ENOTFOUND…).
  if (err?.cause) return describeCause(err.cause);
  if (err?.code && err.message && !err.message.includes(err.code)) return `${err.code} ${err.message}`;
  return err?.message ?? err?.code ?? String(cause);
}

/** One line for the user, never a stack trace. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
