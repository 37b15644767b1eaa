import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestAsyncHookHandler, preHandlerAsyncHookHandler } from 'fastify';
import { applyFault } from '../fault-effects.ts';
import { idToken } from '../id-token.ts';
import type { AccessToken, Grant } from '../oauth-store.ts';
import type { RequestContexts } from '../request-context.ts';
import { SCOPE } from '../scopes.ts';
import type { EmulatorState } from '../state.ts';

type Form = Record<string, string | undefined>;

const oauthError = (reply: FastifyReply, status: number, error: string, description: string) =>
  reply.code(status).send({ error, error_description: description });

const formOf = (req: FastifyRequest): Form => {
  const body = req.body;
  return typeof body === 'object' && body !== null ? (body as Form) : {};
};

/** Client credentials from HTTP Basic or from the form (RFC 6749 §2.3.1); Basic wins when both are present. */
function clientOf(req: FastifyRequest, form: Form): { id?: string; secret?: string } {
  const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (m) {
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) return { id: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  }
  return { id: form.client_id, secret: form.client_secret };
}

/** Faults and stats for the token and revoke endpoints; runs after the form is parsed so rules can match the account. */
function oauthGate(state: EmulatorState, contexts: RequestContexts, endpoint: 'token' | 'revoke') {
  const onRequest: onRequestAsyncHookHandler = async (req, reply) => {
    contexts.open(req, reply, endpoint);
  };
  const preHandler: preHandlerAsyncHookHandler = async (req, reply) => {
    const ctx = contexts.require(req);
    const form = formOf(req);
    const query = req.query as Form;
    const token = form.token ?? query.token;
    ctx.email =
      (form.code ? state.oauth.emailOfCode(form.code) : undefined) ??
      (form.refresh_token ? state.oauth.emailOfRefreshToken(form.refresh_token) : undefined) ??
      (token ? (state.oauth.emailOfRefreshToken(token) ?? state.oauth.lookupAccess(token)?.grant.email) : undefined);
    const rule = state.faults.take(endpoint, ctx.email);
    if (rule && (await applyFault(state, rule, req, reply, ctx, 'oauth'))) return reply;
  };
  return { onRequest, preHandler };
}

function tokenResponse(state: EmulatorState, grant: Grant, access: AccessToken, withRefresh: boolean) {
  return {
    access_token: access.token,
    expires_in: state.config.accessTokenTtlSec,
    ...(withRefresh && grant.refreshToken ? { refresh_token: grant.refreshToken } : {}),
    scope: grant.scopes.join(' '),
    token_type: 'Bearer',
    ...(grant.scopes.includes(SCOPE.openid)
      ? { id_token: idToken({ clientId: grant.clientId, email: grant.email, scopes: grant.scopes, now: state.clock.now() }) }
      : {}),
  };
}

/** POST /token and POST /revoke, form-encoded like oauth2.googleapis.com. */
export function tokenRoutes(state: EmulatorState, contexts: RequestContexts): FastifyPluginAsync {
  return async (app) => {
    app.post('/token', oauthGate(state, contexts, 'token'), async (req, reply) => {
      reply.header('Cache-Control', 'no-cache, no-store, max-age=0, must-revalidate').header('Pragma', 'no-cache');
      const form = formOf(req);
      const client = clientOf(req, form);
      if (!client.id) return oauthError(reply, 400, 'invalid_request', 'Could not determine client ID from request.');
      if (client.id !== state.config.clientId) return oauthError(reply, 401, 'invalid_client', 'The OAuth client was not found.');
      if (client.secret !== state.config.clientSecret) return oauthError(reply, 401, 'invalid_client', 'Unauthorized');

      switch (form.grant_type) {
        case undefined:
          return oauthError(reply, 400, 'invalid_request', 'Missing required parameter: grant_type');
        case 'authorization_code': {
          if (!form.code) return oauthError(reply, 400, 'invalid_request', 'Missing required parameter: code');
          if (!form.redirect_uri) return oauthError(reply, 400, 'invalid_request', 'Missing required parameter: redirect_uri');
          const result = state.oauth.redeemCode(form.code, client.id, form.redirect_uri, form.code_verifier);
          if (!result.ok) return oauthError(reply, 400, result.error, 'Bad Request');
          return tokenResponse(state, result.grant, result.access, true);
        }
        case 'refresh_token': {
          if (!form.refresh_token) return oauthError(reply, 400, 'invalid_request', 'Missing required parameter: refresh_token');
          const result = state.oauth.refresh(form.refresh_token, client.id);
          if (!result.ok) return oauthError(reply, 400, 'invalid_grant', 'Token has been expired or revoked.');
          return tokenResponse(state, result.grant, result.access, false);
        }
        default:
          return oauthError(reply, 400, 'unsupported_grant_type', `Invalid grant_type: ${form.grant_type}`);
      }
    });

    app.post('/revoke', oauthGate(state, contexts, 'revoke'), async (req, reply) => {
      const token = formOf(req).token ?? (req.query as Form).token;
      if (!token) return oauthError(reply, 400, 'invalid_request', 'Missing required parameter: token');
      if (!state.oauth.revoke(token)) return oauthError(reply, 400, 'invalid_token', 'Token expired or revoked');
      return {};
    });
  };
}
