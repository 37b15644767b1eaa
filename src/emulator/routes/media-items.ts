import type { FastifyPluginAsync } from 'fastify';
import { batchCreate } from '../batch-create.ts';
import { sendGoogleError } from '../errors.ts';
import { paginate } from '../pagination.ts';
import { holdBatchCreate, photosGate } from '../photos-gate.ts';
import type { RequestContexts } from '../request-context.ts';
import { SCOPE } from '../scopes.ts';
import type { EmulatorState } from '../state.ts';
import { baseUrlOf, mediaItemView } from '../views.ts';

const PAGE = { size: 25, max: 100 };

/** mediaItems:batchCreate, and the reads the appcreateddata scope allows (only items this app created). */
export function mediaItemRoutes(state: EmulatorState, contexts: RequestContexts): FastifyPluginAsync {
  return async (app) => {
    const writeGate = photosGate(state, contexts, () => ({ endpoint: 'batchCreate', scope: SCOPE.append, write: true }));
    const readGate = photosGate(state, contexts, () => ({ endpoint: 'mediaItems', scope: SCOPE.readAppCreated }));

    app.post('/v1/mediaItems::batchCreate', { onRequest: writeGate }, async (req, reply) => {
      const ctx = contexts.require(req);
      const outcome = batchCreate(state, ctx, req.body, baseUrlOf(req));
      await holdBatchCreate(ctx.holdUntil);
      return reply.code(outcome.status).send(outcome.body);
    });

    app.get('/v1/mediaItems/:id', { onRequest: readGate }, async (req, reply) => {
      const ctx = contexts.require(req);
      const item = state.libraries.appItem((req.params as { id: string }).id, ctx.email!, ctx.clientId!);
      if (!item) return sendGoogleError(reply, 400, 'Invalid media item ID.');
      return mediaItemView(item, baseUrlOf(req));
    });

    app.get('/v1/mediaItems', { onRequest: readGate }, async (req, reply) => {
      const ctx = contexts.require(req);
      const q = req.query as Record<string, unknown>;
      const page = paginate(state.libraries.appItems(ctx.email!, ctx.clientId!), q.pageSize, q.pageToken, PAGE);
      if (!page.ok) return sendGoogleError(reply, 400, page.message);
      const base = baseUrlOf(req);
      // Google leaves empty lists out of the JSON entirely.
      return {
        ...(page.items.length ? { mediaItems: page.items.map((i) => mediaItemView(i, base)) } : {}),
        ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
      };
    });

    app.post('/v1/mediaItems::search', { onRequest: readGate }, async (req, reply) => {
      const ctx = contexts.require(req);
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (body.albumId !== undefined && body.filters !== undefined) {
        return sendGoogleError(reply, 400, 'albumId and filters cannot both be set.');
      }
      let items = state.libraries.appItems(ctx.email!, ctx.clientId!);
      if (body.albumId !== undefined) {
        const album = state.libraries.appAlbum(String(body.albumId), ctx.email!, ctx.clientId!);
        if (!album) return sendGoogleError(reply, 400, 'Invalid album ID.');
        const byId = new Map(items.map((i) => [i.id, i]));
        items = album.itemIds.flatMap((id) => byId.get(id) ?? []);
      }
      const page = paginate(items, body.pageSize, body.pageToken, PAGE);
      if (!page.ok) return sendGoogleError(reply, 400, page.message);
      const base = baseUrlOf(req);
      return {
        ...(page.items.length ? { mediaItems: page.items.map((i) => mediaItemView(i, base)) } : {}),
        ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
      };
    });
  };
}
