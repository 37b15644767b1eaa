/**
 * Exponential backoff from 1 s (Google: "5xx → exponential backoff starting at 1 s"), doubling per attempt, with
 * jitter over the upper half of each step (no synchronised retries), capped. Attempt 1 waits 1–2 s, attempt 2
 * 2–4 s… (The first version jittered attempt 1 down to 0.5 s, under Google's minimum.)
 */
export function backoffMs(attempt: number, random = Math.random, baseMs = 1000, capMs = 30 * 60_000): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(1, attempt));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** A wait Google imposed (429), spread a little so waiting workers do not all return at the same instant. */
export function jittered(ms: number, random = Math.random): number {
  return Math.round(ms * (1 + random() * 0.2));
}
