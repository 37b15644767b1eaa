import type pg from 'pg';
import type { Prisma } from '../db/generated/client.ts';

/**
 * A statement of the forwarding hot path on the pool under Prisma, named so each connection parses and plans it once.
 * Through Prisma each such statement cost the worker more CPU than the Google request it serves (bench part e's
 * profile: the query compiler and adapter ~5 ms per photo); the text is still built with Prisma.sql, so its values
 * stay parameters. A name must always come with the same text.
 */
export async function namedQuery<T extends pg.QueryResultRow>(pool: pg.Pool, name: string, sql: Prisma.Sql): Promise<T[]> {
  const result = await pool.query<T>({ name, text: sql.text, values: sql.values });
  return result.rows;
}
