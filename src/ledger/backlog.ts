import { Prisma } from '../db/generated/client.ts';

/** Delivery states still owed to Google: the backlog. Every read of "what is left to send" uses this one list. */
export const BACKLOG_STATES = ['pending', 'uploading'] as const;

/** `<alias>.state IN ('pending','uploading')` for raw queries, so the predicate is written once. */
export function inBacklog(alias = 'd'): Prisma.Sql {
  return Prisma.sql`${Prisma.raw(alias)}.state IN ('pending', 'uploading')`;
}
