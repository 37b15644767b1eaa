import type { FastifyReply, FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { MSG, sendGoogleError, sendServerFault } from './errors.ts';
import type { FaultRule } from './faults.ts';
import { dropConnection, type RequestContext } from './request-context.ts';
import type { EmulatorState } from './state.ts';

const UPLOAD_ENDPOINTS = new Set(['upload', 'uploadChunk']);

/** Faults on the OAuth endpoints look like Google's OAuth errors, not like API errors. */
function sendOAuthFault(reply: FastifyReply, rule: FaultRule): FastifyReply | undefined {
  const f = rule.fault;
  if (f.kind === '429') return reply.code(429).send({ error: 'rate_limit_exceeded', error_description: 'Rate Limit Exceeded' });
  if (f.kind === '5xx') {
    return f.status === 502 ? sendServerFault(reply, 502) : reply.code(f.status ?? 500).send({ error: 'internal_failure', error_description: 'Backend Error' });
  }
  if (f.kind === '401') return reply.code(401).send({ error: 'invalid_client', error_description: 'Unauthorized' });
  return undefined;
}

/**
 * A peer that hung: takes the request's headers (and `afterBytes` of an upload's body), then reads nothing more and
 * never answers. The client's bytes back up into its socket; the connection stays open until the client gives up
 * (or the emulator closes), and is counted as 'stalled' then.
 */
function stall(state: EmulatorState, req: FastifyRequest, reply: FastifyReply, ctx: RequestContext, afterBytes: number): void {
  ctx.outcome = 'stalled';
  reply.hijack();
  const body = req.raw;
  if (afterBytes === 0) {
    body.pause();
    return;
  }
  let seen = 0;
  const take = (chunk: Buffer) => {
    seen += chunk.length;
    state.stats.bytesReceived += chunk.length;
    if (seen < afterBytes) return;
    body.off('data', take);
    body.pause();
  };
  body.on('data', take);
}

/**
 * Applies a fault rule taken for this request. Returns true when the fault answered (or cut) the request, so the
 * caller must stop; false when processing continues (latency, side effects, or faults the handler acts on).
 */
export async function applyFault(
  state: EmulatorState,
  rule: FaultRule,
  req: FastifyRequest,
  reply: FastifyReply,
  ctx: RequestContext,
  style: 'google' | 'oauth',
): Promise<boolean> {
  const f = rule.fault;
  const scopeEmail = rule.match?.email;
  switch (f.kind) {
    case '429':
      if (f.retryAfter !== undefined) reply.header('Retry-After', String(f.retryAfter));
      if (style === 'oauth') sendOAuthFault(reply, rule);
      else sendGoogleError(reply, 429, 'Resource has been exhausted (e.g. check quota).');
      return true;
    case '5xx':
      if (style === 'oauth') sendOAuthFault(reply, rule);
      else sendServerFault(reply, f.status ?? 500);
      return true;
    case '401':
      if (style === 'oauth') sendOAuthFault(reply, rule);
      else sendGoogleError(reply.header('WWW-Authenticate', 'Bearer realm="https://accounts.google.com/", error="invalid_token"'), 401, MSG.unauthenticated);
      return true;
    case 'latency':
      await sleep(f.ms);
      return false;
    case 'drop':
      // Labelled up front: the socket's 'close' (which records stats) can fire before the handler notices the cut.
      ctx.outcome = 'dropped';
      if (f.afterBytes === undefined || (f.afterBytes > 0 && UPLOAD_ENDPOINTS.has(ctx.endpoint))) {
        // An upload body shorter than afterBytes is processed, then its answer is lost like any other.
        if (f.afterBytes !== undefined) ctx.dropAfterBytes = f.afterBytes;
        ctx.dropResponse = true;
        return false;
      }
      dropConnection(reply, ctx);
      return true;
    case 'stall':
      stall(state, req, reply, ctx, UPLOAD_ENDPOINTS.has(ctx.endpoint) ? (f.afterBytes ?? 0) : 0);
      return true;
    case 'itemStatus':
      ctx.itemFault = f;
      return false;
    case 'expireUploadTokens':
      state.uploads.expireTokens(scopeEmail);
      return false;
    case 'revokeRefreshTokens':
      state.oauth.revokeRefreshTokens(f.email ?? scopeEmail);
      return false;
    case 'invalidateAccessTokens':
      state.oauth.invalidateAccessTokens(scopeEmail);
      return false;
  }
}
