import { Prisma } from '../db/generated/client.ts';

export const ASSET_STATES = ['pending', 'uploading', 'backed_up', 'failed', 'needs_reauth', 'paused'] as const;
export type AssetState = (typeof ASSET_STATES)[number];

/**
 * An asset's state is its delivery's (`d`), except that an account-level condition (`acc`: forwarding paused, Google
 * link broken or removed) shows on everything not yet terminal. Derived in SQL, so lists filter and count on it, and a
 * registration answers with it in the same statement (src/ledger/registration.ts).
 */
export const STATE_SQL = Prisma.sql`(CASE
  WHEN d.state IN ('backed_up', 'failed') THEN d.state::text
  WHEN acc.forwarding = 'paused' THEN 'paused'
  WHEN acc.google_status IN ('needs_reauth', 'revoked') THEN 'needs_reauth'
  ELSE d.state::text END)`;
