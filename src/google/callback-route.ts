import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../http/errors.ts';
import { errorResponses } from '../http/schemas.ts';
import type { Services } from '../services.ts';
import { finishLink } from './linking.ts';

const CallbackQuery = Type.Object({
  code: Type.Optional(Type.String({ maxLength: 4096 })),
  state: Type.Optional(Type.String({ maxLength: 512 })),
  error: Type.Optional(Type.String({ maxLength: 512 })),
  scope: Type.Optional(Type.String({ maxLength: 4096 })),
});

function page(title: string, body: string): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head><body style="font-family:sans-serif;max-width:40em;margin:3em auto"><h1>${esc(title)}</h1><p>${esc(body)}</p></body></html>`;
}

/** Where Google sends the browser after consent. The state, not any session, says which account to link. */
export default async function callbackRoute(app: FastifyInstance, { services }: { services: Services }) {
  app.get<{ Querystring: typeof CallbackQuery.static }>(
    '/oauth/google/callback',
    {
      schema: {
        summary: 'OAuth redirect target: completes a Google link',
        tags: ['google'],
        querystring: CallbackQuery,
        response: { 200: Type.String({ description: 'HTML page' }), ...errorResponses(400, 409, 429) },
      },
    },
    async (request, reply) => {
      const { code, state, error } = request.query;
      if (error) throw new ApiError('validation_failed', `Google reported: ${error}`);
      if (!code || !state) throw new ApiError('validation_failed', 'The callback needs code and state');
      const linked = await services.limits.pairing.guard(request.ip, ['validation_failed'], () => finishLink(services, { code, state }));
      return reply
        .type('text/html; charset=utf-8')
        .send(page('Google Photos linked', `Photo Relay now backs up to ${linked.email ?? 'the Google account you chose'}. You can close this window.`));
    },
  );
}
