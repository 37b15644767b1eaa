/**
 * The size of the appends to send: `preferred`, or less when the relay asks for less. Upload-Limit (a structured
 * field dictionary, e.g. `max-size=10737418240, max-append-size=1048576`) carries RESUMABLE_MAX_APPEND_BYTES as
 * max-append-size, which an operator sets below the body limit of a proxy in front of the relay: a larger append
 * would meet that proxy's 413. No usable max-append-size leaves `preferred`.
 */
export function appendSizeFor(uploadLimit: string | null, preferred: number): number {
  for (const member of (uploadLimit ?? '').split(',')) {
    const [key, value] = member.split('=').map((s) => s.trim());
    if (key !== 'max-append-size' || !value || !/^\d{1,15}$/.test(value)) continue;
    const limit = Number(value);
    return limit > 0 ? Math.min(preferred, limit) : preferred;
  }
  return preferred;
}
