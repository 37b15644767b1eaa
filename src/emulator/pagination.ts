/** Page through a list with an opaque token, validating pageSize against Google's documented bounds. */
export type Page<T> = { ok: true; items: T[]; nextPageToken?: string } | { ok: false; message: string };

export function paginate<T>(all: T[], rawSize: unknown, rawToken: unknown, defaults: { size: number; max: number }): Page<T> {
  let size = defaults.size;
  if (rawSize !== undefined && rawSize !== '') {
    const n = Number(rawSize);
    if (!Number.isInteger(n) || n < 0 || n > defaults.max) return { ok: false, message: `pageSize must be between 0 and ${defaults.max}.` };
    if (n > 0) size = n;
  }
  let offset = 0;
  if (rawToken !== undefined && rawToken !== '') {
    const decoded = /^o(\d+)$/.exec(Buffer.from(String(rawToken), 'base64url').toString());
    if (!decoded) return { ok: false, message: 'Invalid page token.' };
    offset = Number(decoded[1]);
  }
  const items = all.slice(offset, offset + size);
  const next = offset + size < all.length ? Buffer.from(`o${offset + size}`).toString('base64url') : undefined;
  return { ok: true, items, ...(next ? { nextPageToken: next } : {}) };
}
