/**
 * Recognises an error that means "a dependency (Postgres, Redis) cannot be reached right now", as opposed to a bug:
 * the client should come back later (503 not_ready), not report a fault (500). By stable codes where the library
 * gives one; a few libraries give none, and those exact messages are listed as such.
 */

// Prisma: cannot reach / timed out / database missing / server closed the connection / pool timeout / too many connections.
const PRISMA_CODES = new Set(['P1001', 'P1002', 'P1003', 'P1008', 'P1017', 'P2024', 'P2037']);
// @prisma/adapter-pg's classification of the driver error, found under meta.driverAdapterError.cause.kind (raw
// queries report P2010 with it).
const ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'DatabaseDoesNotExist', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
// Postgres SQLSTATEs: class 08 is "connection exception"; 57P01–57P03 a server shutting down, crashed or starting.
const PG_STATES = /^(08...|57P0[1-3])$/;
// Socket errors that name a failed connection to some server (never the client's own socket, whose errors carry
// no syscall or a read/write one).
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT']);
const CONNECT_SYSCALLS = new Set(['connect', 'getaddrinfo']);
// ioredis: these errors carry no code; the names and messages are constants of ioredis.
const IOREDIS_NAMES = new Set(['MaxRetriesPerRequestError']);
const IOREDIS_MESSAGES = new Set([
  'Connection is closed.',
  "Stream isn't writeable and enableOfflineQueue options is false",
  'Command timed out',
  'Command aborted due to connection close',
]);
// node-postgres: a pooled connection that died under a query, or before it, rejects with one of these, without a code;
// pg-pool with the last when no connection could be had within its connectionTimeoutMillis.
const PG_MESSAGES = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Connection terminated due to connection timeout',
  'Client has encountered a connection error and is not queryable',
  'timeout exceeded when trying to connect',
]);

interface Inspectable {
  name?: unknown;
  code?: unknown;
  errorCode?: unknown;
  syscall?: unknown;
  message?: unknown;
  meta?: { driverAdapterError?: { cause?: { kind?: unknown; code?: unknown; originalCode?: unknown } } };
  cause?: unknown;
}

export function isDependencyUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 3) return false;
  const e = err as Inspectable;
  const code = typeof e.code === 'string' ? e.code : typeof e.errorCode === 'string' ? e.errorCode : undefined;
  if (code && PRISMA_CODES.has(code)) return true;
  const adapter = e.meta?.driverAdapterError?.cause;
  if (adapter) {
    if (typeof adapter.kind === 'string' && ADAPTER_KINDS.has(adapter.kind)) return true;
    const state = adapter.originalCode ?? adapter.code;
    if (typeof state === 'string' && PG_STATES.test(state)) return true;
  }
  // node-postgres's own error (the ledger's registration runs on plain pg): the SQLSTATE is its code.
  if (code && PG_STATES.test(code)) return true;
  if (code && SOCKET_CODES.has(code) && typeof e.syscall === 'string' && CONNECT_SYSCALLS.has(e.syscall)) return true;
  if (typeof e.name === 'string' && IOREDIS_NAMES.has(e.name)) return true;
  if (typeof e.message === 'string' && (IOREDIS_MESSAGES.has(e.message) || PG_MESSAGES.has(e.message))) return true;
  return isDependencyUnavailable(e.cause, depth + 1);
}
