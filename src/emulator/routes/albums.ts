import type { FastifyPluginAsync } from 'fastify';
import { sendGoogleError } from '../errors.ts';
import { paginate } from '../pagination.ts';
import { photosGate } from '../photos-gate.ts';
import type { RequestContexts } from '../request-context.ts';
import { SCOPE } from '../scopes.ts';
import type { EmulatorState } from '../state.ts';
import { albumView, baseUrlOf } from '../views.ts';

const MAX_TITLE = 500;
const PAGE = { size: 20, max: 50 };

export function albumRoutes(state: EmulatorState, contexts: RequestContexts): FastifyPluginAsync {
  return async (app) => {
    const createGate = photosGate(state, contexts, () => ({ endpoint: 'albums', scope: SCOPE.append, write: true }));
    const readGate = photosGate(state, contexts, () => ({ endpoint: 'albums', scope: SCOPE.readAppCreated }));

    app.post('/v1/albums', { onRequest: createGate }, async (req, reply) => {
      const ctx = contexts.require(req);
      const body = req.body as { album?: { title?: unknown } } | undefined;
      const album = body?.album;
      if (typeof album !== 'object' || album === null) return sendGoogleError(reply, 400, 'album is required.');
      const extra = Object.keys(album).find((k) => k !== 'title');
      if (extra) return sendGoogleError(reply, 400, `Invalid JSON payload received. Unknown name "${extra}" at 'album': Cannot find field.`);
      const title = album.title;
      if (typeof title !== 'string' || title.trim() === '') return sendGoogleError(reply, 400, 'album.title is required.');
      if (title.length > MAX_TITLE) return sendGoogleError(reply, 400, `album.title must be at most ${MAX_TITLE} characters.`);
      const created = state.libraries.createAlbum({ email: ctx.email!, clientId: ctx.clientId!, title, now: state.clock.now() });
      return albumView(created, baseUrlOf(req));
    });

    app.get('/v1/albums', { onRequest: readGate }, async (req, reply) => {
      const ctx = contexts.require(req);
      const q = req.query as Record<string, unknown>;
      const page = paginate(state.libraries.appAlbums(ctx.email!, ctx.clientId!), q.pageSize, q.pageToken, PAGE);
      if (!page.ok) return sendGoogleError(reply, 400, page.message);
      const base = baseUrlOf(req);
      return {
        ...(page.items.length ? { albums: page.items.map((a) => albumView(a, base)) } : {}),
        ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
      };
    });

    app.get('/v1/albums/:id', { onRequest: readGate }, async (req, reply) => {
      const ctx = contexts.require(req);
      const album = state.libraries.appAlbum((req.params as { id: string }).id, ctx.email!, ctx.clientId!);
      if (!album) return sendGoogleError(reply, 400, 'Invalid album ID.');
      return albumView(album, baseUrlOf(req));
    });
  };
}
