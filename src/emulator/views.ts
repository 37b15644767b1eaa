import type { FastifyRequest } from 'fastify';
import type { Album, LibraryItem } from './library-store.ts';

/** Links point at this emulator (Google's would be photos.google.com), so the demo can open them. */
export const baseUrlOf = (req: FastifyRequest): string => `${req.protocol}://${req.host}`;

// int64 fields (width, height, mediaItemsCount) are JSON strings in Google's REST encoding.
export function mediaItemView(item: LibraryItem, base: string) {
  return {
    id: item.id,
    ...(item.description ? { description: item.description } : {}),
    productUrl: `${base}/lr/photo/${item.id}`,
    mimeType: item.mimeType,
    filename: item.filename,
    mediaMetadata: {
      creationTime: new Date(item.createdAt).toISOString(),
      ...(item.dimensions ? { width: String(item.dimensions.width), height: String(item.dimensions.height) } : {}),
      ...(item.kind === 'photo' ? { photo: {} } : { video: { status: 'READY' } }),
    },
  };
}

export function albumView(album: Album, base: string) {
  return {
    id: album.id,
    title: album.title,
    productUrl: `${base}/lr/album/${album.id}`,
    isWriteable: true,
    mediaItemsCount: String(album.itemIds.length),
  };
}
