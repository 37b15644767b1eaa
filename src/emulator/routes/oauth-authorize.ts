import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { redirectUriAllowed } from '../redirect-uri.ts';
import type { RequestContexts } from '../request-context.ts';
import { parseScopes, SCOPE } from '../scopes.ts';
import type { EmulatorState } from '../state.ts';

export const DEFAULT_CONSENT_EMAIL = 'user1@example.com';
const IDENTITY_SCOPES: string[] = [SCOPE.openid, SCOPE.email, SCOPE.profile];

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Google shows an error page (no redirect) when the request itself can't be trusted: bad client or redirect URI. */
function errorPage(reply: FastifyReply, error: string, description: string): FastifyReply {
  return reply
    .code(400)
    .type('text/html; charset=UTF-8')
    .send(
      `<!DOCTYPE html><html><head><title>Error 400: ${escapeHtml(error)}</title></head><body>` +
        `<h1>Access blocked: authorization error</h1><p>Error 400: ${escapeHtml(error)}</p><p>${escapeHtml(description)}</p></body></html>`,
    );
}

function single(q: Record<string, unknown>, name: string): string | undefined {
  const v = q[name];
  return typeof v === 'string' ? v : undefined;
}

/** GET /o/oauth2/v2/auth — the consent screen, auto-approved by the configured (or hinted) Google account. */
export function authorizeRoute(state: EmulatorState, contexts: RequestContexts): FastifyPluginAsync {
  return async (app) => {
    app.get('/o/oauth2/v2/auth', async (req, reply) => {
      contexts.open(req, reply, 'auth');
      const q = req.query as Record<string, unknown>;
      const clientId = single(q, 'client_id');
      const redirectUri = single(q, 'redirect_uri');
      const responseType = single(q, 'response_type');
      const scope = single(q, 'scope');
      const accessType = single(q, 'access_type');
      const prompt = (single(q, 'prompt') ?? '').split(' ').filter(Boolean);

      if (!clientId) return errorPage(reply, 'invalid_request', 'Missing required parameter: client_id');
      if (clientId !== state.config.clientId) return errorPage(reply, 'invalid_client', 'The OAuth client was not found.');
      if (!redirectUri) return errorPage(reply, 'invalid_request', 'Missing required parameter: redirect_uri');
      if (!redirectUriAllowed(redirectUri, state.config.redirectUris)) {
        return errorPage(reply, 'redirect_uri_mismatch', `The redirect URI in the request, ${redirectUri}, is not allowed for this OAuth client.`);
      }
      if (!responseType) return errorPage(reply, 'invalid_request', 'Required parameter is missing: response_type');
      if (responseType !== 'code') return errorPage(reply, 'unsupported_response_type', `Invalid response_type: ${responseType}`);
      if (!scope) return errorPage(reply, 'invalid_request', 'Missing required parameter: scope');
      const parsed = parseScopes(scope);
      if (!parsed.ok) return errorPage(reply, 'invalid_scope', `Some requested scopes were invalid: ${parsed.invalid.join(' ')}`);
      if (accessType !== undefined && accessType !== 'online' && accessType !== 'offline') {
        return errorPage(reply, 'invalid_request', `Invalid access_type: ${accessType}`);
      }
      if (prompt.some((p) => !['none', 'consent', 'select_account'].includes(p)) || (prompt.includes('none') && prompt.length > 1)) {
        return errorPage(reply, 'invalid_request', `Invalid prompt: ${prompt.join(' ')}`);
      }

      const hint = single(q, 'login_hint');
      const email = (hint?.includes('@') ? hint : undefined) ?? state.consent.email ?? DEFAULT_CONSENT_EMAIL;
      const target = new URL(redirectUri);
      const requestState = single(q, 'state');
      if (requestState !== undefined) target.searchParams.set('state', requestState);
      const plan = state.consent;
      const deny = plan.deny;
      const grantOnly = plan.grantScopes;
      plan.deny = false;
      plan.grantScopes = null;

      if (deny) {
        target.searchParams.set('error', 'access_denied');
        return reply.redirect(target.toString(), 302);
      }
      if (prompt.includes('none') && !state.oauth.hasConsented(email, clientId)) {
        target.searchParams.set('error', 'consent_required');
        return reply.redirect(target.toString(), 302);
      }
      // With granular consent a user may untick some scopes; the identity ones are always granted.
      const granted = grantOnly ? parsed.scopes.filter((s) => IDENTITY_SCOPES.includes(s) || grantOnly.includes(s)) : parsed.scopes;
      const code = state.oauth.issueCode({
        email,
        clientId,
        redirectUri,
        scopes: granted,
        offline: accessType === 'offline',
        forcedConsent: prompt.includes('consent'),
      });
      target.searchParams.set('code', code);
      target.searchParams.set('scope', granted.join(' '));
      target.searchParams.set('authuser', '0');
      if (prompt.includes('consent')) target.searchParams.set('prompt', 'consent');
      return reply.redirect(target.toString(), 302);
    });
  };
}
