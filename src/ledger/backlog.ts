import { Prisma } from '../db/generated/client.ts';

/**
 * Delivery states still owed to Google: the backlog. Every read of "what is left to send" uses this one predicate
 * (`<alias>.state IN ('pending','uploading')`), so retention, the dashboards and the quota share agree on it.
 */
export function inBacklog(alias = 'd'): Prisma.Sql {
  return Prisma.sql`${Prisma.raw(alias)}.state IN ('pending', 'uploading')`;
}
