import type { FastifyError, FastifyPluginAsync } from 'fastify';
import type { RequestContexts } from '../request-context.ts';
import type { EmulatorState } from '../state.ts';
import { authorizeRoute } from './oauth-authorize.ts';
import { tokenRoutes } from './oauth-token.ts';

/** accounts.google.com / oauth2.googleapis.com: consent, token and revoke, with OAuth-shaped errors. */
export function oauthRoutes(state: EmulatorState, contexts: RequestContexts): FastifyPluginAsync {
  return async (app) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    app.setErrorHandler((err: FastifyError, req, reply) => {
      const status = err.statusCode ?? 500;
      if (status >= 500) req.log.error(err);
      return reply
        .code(status >= 500 ? 500 : 400)
        .send({ error: status >= 500 ? 'internal_failure' : 'invalid_request', error_description: err.message });
    });
    await app.register(authorizeRoute(state, contexts));
    await app.register(tokenRoutes(state, contexts));
  };
}
