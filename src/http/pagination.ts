import { ApiError } from './errors.ts';
import { isId } from '../db/ids.ts';

export const MAX_PAGE = 1000;

export const PageQuery = {
  limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 100 },
  cursor: { type: 'string', maxLength: 200 },
} as const;

export function pageSchema(item: object) {
  return {
    type: 'object',
    required: ['items', 'nextCursor'],
    properties: { items: { type: 'array', items: item }, nextCursor: { type: ['string', 'null'] } },
  } as const;
}

/** Cursors are opaque to clients: the last id of the previous page, base64url encoded. */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isId(id)) throw new ApiError('validation_failed', 'cursor is not one this server issued');
  return id;
}

/** A page as a query asks for it: `size` items, read as `limit` rows (one more) after the cursor's id. */
export interface PageRequest {
  size: number;
  limit: number;
  after: string | undefined;
}

/**
 * The page a list query asks for. The schema's coercion lets `?limit=Infinity` and `?limit=1e400` through as
 * Infinity (Ajv turns the string into a number, then skips minimum/maximum for non-finite values), so the bounds are
 * checked again here, on the value the query will use.
 */
export function pageOf(query: { limit: number; cursor?: string | undefined }): PageRequest {
  const size = query.limit;
  if (!Number.isSafeInteger(size) || size < 1 || size > MAX_PAGE) {
    throw new ApiError('validation_failed', `limit must be a whole number from 1 to ${MAX_PAGE}`);
  }
  return { size, limit: size + 1, after: decodeCursor(query.cursor) };
}

/** Ask for one row more than the page holds: its presence says whether another page follows. */
export function toPage<T extends { id: string }>(rows: T[], limit: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? Buffer.from(last.id).toString('base64url') : null };
}
