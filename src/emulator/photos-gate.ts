import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { MSG, sendGoogleError } from './errors.ts';
import { applyFault } from './fault-effects.ts';
import type { FaultEndpoint } from './faults.ts';
import type { RequestContexts } from './request-context.ts';
import { hasScope } from './scopes.ts';
import type { EmulatorState } from './state.ts';

export interface GateSpec {
  endpoint: FaultEndpoint;
  /** Scope the access token must carry; null where the URL itself is the credential (a resumable session URL). */
  scope: string | null;
  /** Counts against the per-user write limits (batchCreate, album creation). */
  write?: boolean;
  /** For session URLs: the account and app that opened the session, since no bearer token is required there. */
  owner?: { email: string; clientId: string };
}

const WWW_AUTHENTICATE = 'Bearer realm="https://accounts.google.com/", error="invalid_token"';
const MISSING_CREDENTIALS =
  'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

export function bearerOf(req: FastifyRequest): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/**
 * Everything Google checks before an API method runs, in this order: latency, injected faults, authentication,
 * the project's daily quota, scopes, per-user write limits. Faults come before authentication so a test can make
 * any call fail, and they are matched on the account the token names even when the token is no longer valid.
 */
export function photosGate(
  state: EmulatorState,
  contexts: RequestContexts,
  specOf: (req: FastifyRequest) => GateSpec,
): onRequestAsyncHookHandler {
  return async function gate(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const spec = specOf(req);
    const ctx = contexts.open(req, reply, spec.endpoint);
    const bearer = bearerOf(req);
    ctx.email = spec.owner?.email ?? (bearer ? state.oauth.lookupAccess(bearer)?.grant.email : undefined);
    ctx.clientId = spec.owner?.clientId;

    let overlapped = false;
    if (spec.endpoint === 'batchCreate' && ctx.email) {
      const started = state.stats.batchCreateStarted(ctx.email);
      overlapped = started.overlapped;
      reply.raw.once('close', started.release);
      ctx.holdUntil = performance.now() + state.config.batchCreateMinHoldMs;
    }

    // Counted from arrival, faults and refusals included: what Google sees of a client's concurrency.
    if (spec.endpoint === 'upload' && ctx.email) reply.raw.once('close', state.stats.uploadStarted(ctx.email));

    if (state.config.latencyMs > 0) await sleep(state.config.latencyMs);

    const rule = state.faults.take(spec.endpoint, ctx.email);
    if (rule && (await applyFault(state, rule, req, reply, ctx, 'google'))) return reply;

    const header = req.headers.authorization;
    if (spec.scope !== null || header !== undefined) {
      const access = bearer ? state.oauth.authenticate(bearer) : undefined;
      if (!access) {
        reply.header('WWW-Authenticate', WWW_AUTHENTICATE);
        return sendGoogleError(reply, 401, header === undefined ? MISSING_CREDENTIALS : MSG.unauthenticated);
      }
      if (!state.quota.tryConsume()) {
        return sendGoogleError(reply, 429, MSG.dailyQuota);
      }
      if (spec.scope !== null && !hasScope(access.grant.scopes, spec.scope)) {
        return sendGoogleError(reply, 403, MSG.insufficientScopes);
      }
      ctx.email = spec.owner?.email ?? access.grant.email;
      ctx.clientId = spec.owner?.clientId ?? access.grant.clientId;
    } else if (!state.quota.tryConsume()) {
      return sendGoogleError(reply, 429, MSG.dailyQuota);
    }

    if (spec.write && ctx.email) {
      if (overlapped && state.config.concurrentBatchCreate === 'reject') {
        return sendGoogleError(reply, 429, MSG.concurrentWrites);
      }
      if (!state.writes.tryWrite(ctx.email)) {
        return sendGoogleError(reply, 429, MSG.writesPerMinute);
      }
    }
  };
}

/** batchCreate answers no sooner than its hold time, keeping a concurrent call's overlap visible in the stats. */
export async function holdBatchCreate(holdUntil: number): Promise<void> {
  const wait = holdUntil - performance.now();
  if (wait > 0) await sleep(wait);
}
