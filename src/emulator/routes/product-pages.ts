import type { FastifyPluginAsync } from 'fastify';
import type { EmulatorState } from '../state.ts';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Stand-ins for photos.google.com pages, so productUrl links from the demo lead somewhere readable. */
export function productPages(state: EmulatorState): FastifyPluginAsync {
  return async (app) => {
    app.get('/lr/photo/:id', async (req, reply) => {
      const id = (req.params as { id: string }).id;
      const item = state.libraries.anyItem(id);
      if (!item) return reply.code(404).type('text/html').send('<h1>Not found</h1>');
      return reply
        .type('text/html; charset=UTF-8')
        .send(`<h1>${esc(item.filename)}</h1><p>${esc(item.email)} · ${esc(item.mimeType)} · ${item.size} bytes</p><p>sha256 ${item.sha256}</p>`);
    });
    app.get('/lr/album/:id', async (req, reply) => {
      const id = (req.params as { id: string }).id;
      const album = state.libraries.anyAlbum(id);
      if (!album) return reply.code(404).type('text/html').send('<h1>Not found</h1>');
      return reply.type('text/html; charset=UTF-8').send(`<h1>${esc(album.title)}</h1><p>${album.itemIds.length} items</p>`);
    });
  };
}
