import { Prisma } from '../db/generated/client.ts';

/**
 * Delivery states still owed to Google: the backlog. Every read of "what is left to send" uses this one predicate
 * (`<alias>.state IN ('pending','uploading')`), so retention, the dashboards and the quota share agree on it.
 */
export function inBacklog(alias = 'd'): Prisma.Sql {
  return Prisma.sql`${Prisma.raw(alias)}.state IN ('pending', 'uploading')`;
}

/** The most media items one batchCreate may make (Google's limit). */
export const BATCH_CREATE_MAX = 50;

/** Holding an upload token, usable until at least `freshUntil`, and not waiting out a backoff: a batchCreate may take it. */
export function readyForCreate(alias: string, freshUntil: Date, now: Date): Prisma.Sql {
  const d = Prisma.raw(alias);
  return Prisma.sql`${d}.state = 'uploading' AND ${d}.upload_token IS NOT NULL AND ${d}.upload_token_expires_at > ${freshUntil}
    AND (${d}.next_attempt_at IS NULL OR ${d}.next_attempt_at <= ${now})`;
}

/** Owed to Google, its bytes not there yet, and not waiting out a backoff: an upload under way or about to start. */
export function stillToUpload(alias: string, now: Date): Prisma.Sql {
  const d = Prisma.raw(alias);
  return Prisma.sql`${inBacklog(alias)} AND ${d}.upload_token IS NULL AND (${d}.next_attempt_at IS NULL OR ${d}.next_attempt_at <= ${now})`;
}
