import type { GateFields } from '../ledger/accounts.ts';
import type { Services } from '../services.ts';

export type Gate = { open: true } | { open: false; waitMs?: number; reason: string };

/**
 * Whether an account's deliveries may go to Google now. A closed gate without waitMs holds them until the admin
 * acts (resume, re-link); the action schedules them again. A wait (429 from Google) passes by itself.
 */
export async function accountGate(services: Services, accountId: string): Promise<Gate> {
  return gateOf(await services.ledger.accounts.gateFields(accountId), services.clock());
}

/** The same verdict from the account's fields, read with something else (an upload's one ledger read). */
export function gateOf(account: GateFields | null, now: Date): Gate {
  if (!account) return { open: false, reason: 'account deleted' };
  if (account.forwarding === 'paused') return { open: false, reason: 'forwarding paused' };
  if (account.googleStatus !== 'linked') return { open: false, reason: 'Google link missing or broken' };
  const wait = (account.throttledUntil?.getTime() ?? 0) - now.getTime();
  if (wait > 0) return { open: false, waitMs: wait, reason: 'Google asked to slow down' };
  return { open: true };
}

export async function throttleAccount(services: Services, accountId: string, ms: number): Promise<void> {
  await services.ledger.accounts.throttle(accountId, new Date(services.clock().getTime() + ms));
}
