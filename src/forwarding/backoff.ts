/** Exponential backoff from 1 s with full jitter (Google's advice: no synchronised retries), capped. */
export function backoffMs(attempt: number, random = Math.random, baseMs = 1000, capMs = 30 * 60_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** A wait Google imposed (429), spread a little so waiting workers do not all return at the same instant. */
export function jittered(ms: number, random = Math.random): number {
  return Math.round(ms * (1 + random() * 0.2));
}
