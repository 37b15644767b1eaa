import fastifyStatic from '@fastify/static';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Services } from '../services.ts';
import { contentSecurityPolicy, pageShell } from './html.ts';

/**
 * Where the browser bundles are: next to the bundled server in production (dist/web), or in the repository's dist/
 * when the server runs from its TypeScript sources (tests, tsx). scripts/build.mjs writes them.
 */
function webRoot(): string {
  const here = import.meta.dirname;
  const candidates = [path.join(here, 'web'), path.resolve(here, '../../dist/web')];
  return candidates.find((dir) => existsSync(path.join(dir, 'phone.js'))) ?? candidates[1]!;
}

const PageResponse = { 200: Type.String({ description: 'The HTML page' }) };

/** The web app: the phone's pages (/pair, /app), the admin dashboard (/admin) and their bundles under /web/. */
export default async function webApp(app: FastifyInstance, { services }: { services: Services }) {
  const publicUrl = services.config.publicUrl;
  await app.register(fastifyStatic, {
    root: webRoot(),
    prefix: '/web/',
    // Fixed file names: the browser asks again each time (a 304 when unchanged), so a new build shows at once.
    cacheControl: false,
    setHeaders(reply) {
      reply.header('cache-control', 'no-cache');
      reply.header('content-security-policy', contentSecurityPolicy(false));
    },
  });

  const send = (reply: FastifyReply, page: 'phone' | 'admin', title: string) =>
    reply
      .header('content-security-policy', contentSecurityPolicy(page === 'phone'))
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(pageShell(page, title, publicUrl));

  app.get(
    '/pair',
    {
      schema: {
        summary: 'The page a phone opens from the pairing QR code: pairs it, then leads to /app',
        tags: ['web'],
        querystring: Type.Object({ code: Type.Optional(Type.String({ maxLength: 200 })) }),
        produces: ['text/html'],
        response: PageResponse,
      },
    },
    (_request, reply) => send(reply, 'phone', 'Pair this phone · Photo Relay'),
  );
  app.get(
    '/app',
    {
      schema: {
        summary: "The phone's page: backup app set-up, upload from the browser, what is safe to delete",
        tags: ['web'],
        produces: ['text/html'],
        response: PageResponse,
      },
    },
    (_request, reply) => send(reply, 'phone', 'Photo Relay'),
  );
  app.get(
    '/admin',
    {
      schema: {
        summary: 'The household dashboard (signs in with the admin token, never in a URL)',
        tags: ['web'],
        produces: ['text/html'],
        response: PageResponse,
      },
    },
    (_request, reply) => send(reply, 'admin', 'Photo Relay · Admin'),
  );
}
