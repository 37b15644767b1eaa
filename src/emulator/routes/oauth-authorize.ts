import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { parseAuthRequest } from '../auth-request.ts';
import type { RequestContexts } from '../request-context.ts';
import { SCOPE } from '../scopes.ts';
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

/** GET /o/oauth2/v2/auth — the consent screen, auto-approved by the configured (or hinted) Google account. */
export function authorizeRoute(state: EmulatorState, contexts: RequestContexts): FastifyPluginAsync {
  return async (app) => {
    app.get('/o/oauth2/v2/auth', async (req, reply) => {
      contexts.open(req, reply, 'auth');
      const parsed = parseAuthRequest(req.query as Record<string, unknown>, state.config);
      if (!parsed.ok) return errorPage(reply, parsed.error, parsed.description);
      const ask = parsed.request;

      const email = (ask.loginHint?.includes('@') ? ask.loginHint : undefined) ?? state.consent.email ?? DEFAULT_CONSENT_EMAIL;
      // deny and grantScopes describe what the user does on this one consent screen.
      const { deny, grantScopes } = state.consent;
      state.consent.deny = false;
      state.consent.grantScopes = null;

      const target = new URL(ask.redirectUri);
      if (ask.state !== undefined) target.searchParams.set('state', ask.state);
      const redirect = (params: Record<string, string>) => {
        for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
        return reply.redirect(target.toString(), 302);
      };
      if (deny) return redirect({ error: 'access_denied' });
      if (ask.prompt.includes('none') && !state.oauth.hasConsented(email, ask.clientId)) return redirect({ error: 'consent_required' });

      // With granular consent a user may untick some scopes; the identity ones are always granted.
      const granted = grantScopes ? ask.scopes.filter((s) => IDENTITY_SCOPES.includes(s) || grantScopes.includes(s)) : ask.scopes;
      const forcedConsent = ask.prompt.includes('consent');
      const code = state.oauth.issueCode({
        email,
        clientId: ask.clientId,
        redirectUri: ask.redirectUri,
        scopes: granted,
        offline: ask.offline,
        forcedConsent,
        ...(ask.pkce ? { pkce: ask.pkce } : {}),
      });
      return redirect({ code, scope: granted.join(' '), authuser: '0', ...(forcedConsent ? { prompt: 'consent' } : {}) });
    });
  };
}
