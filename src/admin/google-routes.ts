import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../http/errors.ts';
import { errorResponses, IdParams } from '../http/schemas.ts';
import { isId } from '../db/ids.ts';
import { finishLink, parseRedirectUrl, startLink, unlink } from '../google/linking.ts';
import type { Services } from '../services.ts';
import { accountViews, AccountSchema } from './account-view.ts';

const Replace = Type.Boolean({
  description: 'Replace a link to another Google account: without it, a consent given by another Google account than the linked one is a 409',
});
const AuthorizeBody = Type.Union([Type.Object({ replace: Type.Optional(Replace) }, { additionalProperties: false }), Type.Null()]);
const CompleteBody = Type.Object(
  { redirectUrl: Type.String({ minLength: 1, maxLength: 4096 }), replace: Type.Optional(Replace) },
  { additionalProperties: false },
);

/** Admin routes that link an account to a Google Photos library. */
export default async function googleRoutes(app: FastifyInstance, { services }: { services: Services }) {
  async function existing(id: string): Promise<string> {
    const found = isId(id) ? await services.db.account.findUnique({ where: { id }, select: { id: true } }) : null;
    if (!found) throw new ApiError('not_found', 'No such account');
    return found.id;
  }

  app.post<{ Params: typeof IdParams.static; Body: typeof AuthorizeBody.static | undefined }>(
    '/accounts/:id/google/authorize',
    {
      schema: {
        summary: 'Start linking a Google Photos library: open authUrl, consent, and Google redirects back to the relay',
        description: 'Voids any earlier authorize of the account. In demo mode, only accounts created in demo mode can be linked (409 otherwise).',
        tags: ['admin'],
        params: IdParams,
        body: AuthorizeBody,
        response: { 200: Type.Object({ authUrl: Type.String() }), ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => ({
      authUrl: await startLink(services, await existing(request.params.id), { replace: request.body?.replace ?? false }),
    }),
  );

  app.post<{ Params: typeof IdParams.static; Body: typeof CompleteBody.static }>(
    '/accounts/:id/google/complete',
    {
      schema: {
        summary: 'Complete a link from the redirect URL pasted from the browser',
        tags: ['admin'],
        params: IdParams,
        body: CompleteBody,
        response: { 200: AccountSchema, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (request) => {
      const accountId = await existing(request.params.id);
      await finishLink(services, { ...parseRedirectUrl(request.body.redirectUrl), accountId, replace: request.body.replace ?? false });
      return (await accountViews(services, { ids: [accountId] }))[0];
    },
  );

  app.delete<{ Params: typeof IdParams.static }>(
    '/accounts/:id/google',
    {
      schema: {
        summary: 'Unlink: revoke and forget the Google tokens; the account\'s assets wait in needs_reauth',
        tags: ['admin'],
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await unlink(services, await existing(request.params.id));
      return reply.code(204).send();
    },
  );
}
