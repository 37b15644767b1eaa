import { googleErrorBody, MSG } from './errors.ts';
import type { RequestContext } from './request-context.ts';
import type { EmulatorState } from './state.ts';
import type { UploadToken } from './upload-store.ts';
import { mediaItemView } from './views.ts';

export const MAX_ITEMS = 50;
const MAX_DESCRIPTION = 1000;
const MAX_FILENAME = 255;

interface NewItem {
  description?: string;
  uploadToken: string;
  fileName?: string;
}

type Outcome = { status: number; body: unknown };

const invalid = (message: string): Outcome => ({ status: 400, body: googleErrorBody(400, message) });
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Google rejects unknown JSON fields outright, so a misspelled field can't silently do nothing. */
function unknownField(obj: Record<string, unknown>, allowed: string[], where: string): Outcome | undefined {
  const extra = Object.keys(obj).find((k) => !allowed.includes(k));
  return extra === undefined ? undefined : invalid(`Invalid JSON payload received. Unknown name "${extra}" at '${where}': Cannot find field.`);
}

function parseBody(body: unknown): { albumId?: string; items: NewItem[] } | Outcome {
  if (!isObject(body)) return invalid('Invalid JSON payload received. Expected an object.');
  const bad = unknownField(body, ['albumId', 'newMediaItems', 'albumPosition'], '');
  if (bad) return bad;
  if (body.albumId !== undefined && typeof body.albumId !== 'string') return invalid('albumId must be a string.');
  if (body.albumPosition !== undefined && body.albumId === undefined) return invalid('albumPosition requires albumId.');
  const list = body.newMediaItems;
  if (!Array.isArray(list) || list.length === 0) return invalid('Request must contain at least one newMediaItem.');
  // Google's message says "less than 50" but 50 is accepted: the limit is at most 50.
  if (list.length > MAX_ITEMS) return invalid(MSG.tooManyItems);
  const items: NewItem[] = [];
  for (const [i, raw] of list.entries()) {
    const where = `new_media_items[${i}]`;
    if (!isObject(raw) || !isObject(raw.simpleMediaItem)) return invalid(`${where}.simpleMediaItem is required.`);
    const badItem = unknownField(raw, ['description', 'simpleMediaItem'], where) ?? unknownField(raw.simpleMediaItem, ['uploadToken', 'fileName'], `${where}.simple_media_item`);
    if (badItem) return badItem;
    const { uploadToken, fileName } = raw.simpleMediaItem;
    if (raw.description !== undefined && (typeof raw.description !== 'string' || raw.description.length > MAX_DESCRIPTION)) {
      return invalid(`${where}.description must be a string shorter than ${MAX_DESCRIPTION} characters.`);
    }
    if (fileName !== undefined && (typeof fileName !== 'string' || fileName.length > MAX_FILENAME)) {
      return invalid(`${where}.simpleMediaItem.fileName must be a string of at most ${MAX_FILENAME} characters.`);
    }
    items.push({
      uploadToken: typeof uploadToken === 'string' ? uploadToken : '',
      ...(raw.description ? { description: raw.description as string } : {}),
      ...(fileName ? { fileName: fileName as string } : {}),
    });
  }
  return { ...(body.albumId !== undefined ? { albumId: body.albumId as string } : {}), items };
}

const status = (code: number, message: string) => (code === 0 ? { message } : { code, message });

/** mediaItems:batchCreate for the account and app in `ctx`: validates all, then creates (or finds, by content) each item. */
export function batchCreate(state: EmulatorState, ctx: RequestContext, body: unknown, base: string): Outcome {
  const email = ctx.email!;
  const clientId = ctx.clientId!;
  const parsed = parseBody(body);
  if ('status' in parsed) return parsed;
  const album = parsed.albumId === undefined ? undefined : state.libraries.appAlbum(parsed.albumId, email, clientId);
  if (parsed.albumId !== undefined && !album) return invalid('Invalid album ID. The album must exist and have been created by this app.');

  const tokens = parsed.items.map((i) => state.uploads.validToken(i.uploadToken, email, clientId));
  if (state.config.invalidUploadToken === 'request' && tokens.some((t) => t === undefined)) return invalid(MSG.invalidUploadToken);

  const now = state.clock.now();
  const fault = ctx.itemFault;
  const results = parsed.items.map((item, index) => {
    const token: UploadToken | undefined = tokens[index];
    const echo = { uploadToken: item.uploadToken };
    const injected = fault && (fault.index === undefined || fault.index === index) ? fault : undefined;
    if (injected && injected.code !== 6) {
      return { ...echo, status: status(injected.code, injected.message ?? (injected.code === 13 ? MSG.internal : MSG.createFailed)) };
    }
    if (!token) return { ...echo, status: status(3, MSG.invalidUploadToken) };
    const { blob } = token;
    if (!blob.media) return { ...echo, status: status(3, MSG.createFailed) };
    const { item: created, created: isNew } = state.libraries.addOrFind({
      email,
      clientId,
      blob: { ...blob, media: blob.media },
      filename: item.fileName ?? token.fileName,
      ...(item.description ? { description: item.description } : {}),
      uploadToken: token.token,
      now,
    });
    token.uses++;
    if (album && !state.libraries.addToAlbum(album, created.id)) return { ...echo, status: status(3, 'The album is full.') };
    // An injected code 6 still creates the item: the client is expected to treat ALREADY_EXISTS as done.
    if (injected?.code === 6) return { ...echo, status: status(6, injected.message ?? MSG.alreadyExists) };
    if (!isNew && state.config.duplicateItem === 'alreadyExists') return { ...echo, status: status(6, MSG.alreadyExists) };
    return { ...echo, status: status(0, MSG.success), mediaItem: mediaItemView(created, base) };
  });

  const partial = results.some((r) => 'code' in r.status);
  return { status: partial ? state.config.partialFailureStatus : 200, body: { newMediaItemResults: results } };
}
