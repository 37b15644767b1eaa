import { ids } from './ids.ts';
import type { UploadedBlob } from './upload-store.ts';

export interface LibraryItem {
  id: string;
  email: string;
  clientId: string;
  filename: string;
  description?: string;
  sha256: string;
  size: number;
  mimeType: string;
  kind: 'photo' | 'video';
  dimensions?: { width: number; height: number };
  createdAt: number;
  uploadTokenUsed: string;
}

export interface Album {
  id: string;
  email: string;
  clientId: string;
  title: string;
  createdAt: number;
  itemIds: string[];
}

export const ALBUM_CAPACITY = 20_000;

/**
 * Every Google account's library. Content identity (SHA-256) is the truth of dedupe, like Google's: the same bytes
 * added again resolve to the item created first, keeping its filename.
 */
export class LibraryStore {
  readonly #items = new Map<string, LibraryItem>();
  readonly #bySha = new Map<string, LibraryItem>(); // key: `${email} ${sha256}`
  readonly #albums = new Map<string, Album>();

  addOrFind(p: {
    email: string;
    clientId: string;
    blob: UploadedBlob & { media: NonNullable<UploadedBlob['media']> };
    filename: string;
    description?: string;
    uploadToken: string;
    now: number;
  }): { item: LibraryItem; created: boolean } {
    const key = `${p.email} ${p.blob.sha256}`;
    const existing = this.#bySha.get(key);
    if (existing) return { item: existing, created: false };
    const item: LibraryItem = {
      id: ids.mediaItem(),
      email: p.email,
      clientId: p.clientId,
      filename: p.filename,
      ...(p.description ? { description: p.description } : {}),
      sha256: p.blob.sha256,
      size: p.blob.size,
      mimeType: p.blob.media.mimeType,
      kind: p.blob.media.kind,
      ...(p.blob.dimensions ? { dimensions: p.blob.dimensions } : {}),
      createdAt: p.now,
      uploadTokenUsed: p.uploadToken,
    };
    this.#items.set(item.id, item);
    this.#bySha.set(key, item);
    return { item, created: true };
  }

  /** Unscoped lookups, for inspection pages only: API routes must use the app-scoped ones. */
  anyItem(id: string): LibraryItem | undefined {
    return this.#items.get(id);
  }

  anyAlbum(id: string): Album | undefined {
    return this.#albums.get(id);
  }

  /** Only what this app created for this account: the API cannot see anything else since March 2025. */
  appItem(id: string, email: string, clientId: string): LibraryItem | undefined {
    const item = this.#items.get(id);
    return item && item.email === email && item.clientId === clientId ? item : undefined;
  }

  appItems(email: string, clientId: string): LibraryItem[] {
    return [...this.#items.values()].filter((i) => i.email === email && i.clientId === clientId);
  }

  itemsOf(email: string): LibraryItem[] {
    return [...this.#items.values()].filter((i) => i.email === email);
  }

  createAlbum(p: { email: string; clientId: string; title: string; now: number }): Album {
    const album: Album = { id: ids.album(), email: p.email, clientId: p.clientId, title: p.title, createdAt: p.now, itemIds: [] };
    this.#albums.set(album.id, album);
    return album;
  }

  appAlbum(id: string, email: string, clientId: string): Album | undefined {
    const album = this.#albums.get(id);
    return album && album.email === email && album.clientId === clientId ? album : undefined;
  }

  appAlbums(email: string, clientId: string): Album[] {
    return [...this.#albums.values()].filter((a) => a.email === email && a.clientId === clientId);
  }

  albumsOf(email: string): Album[] {
    return [...this.#albums.values()].filter((a) => a.email === email);
  }

  /** False when the album is full; adding an item already in it is a no-op. */
  addToAlbum(album: Album, itemId: string): boolean {
    if (album.itemIds.includes(itemId)) return true;
    if (album.itemIds.length >= ALBUM_CAPACITY) return false;
    album.itemIds.push(itemId);
    return true;
  }

  albumIdsOf(itemId: string): string[] {
    return [...this.#albums.values()].filter((a) => a.itemIds.includes(itemId)).map((a) => a.id);
  }
}
