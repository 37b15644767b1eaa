/** How long Google keeps an upload token usable. */
export const UPLOAD_TOKEN_LIFETIME_MS = 24 * 3600_000;

/**
 * Upload tokens live a day; one closer than this to its end is sent again rather than used. Its own module so the API
 * process can schedule (src/forwarding/scheduler.ts) without loading the worker's Google client.
 */
export const TOKEN_MARGIN_MS = 2 * 3600_000;
