import type { Services } from '../services.ts';
import { finishLink, parseRedirectUrl, startLink } from './linking.ts';

/** The demo's Google user for an account: stable across restarts, readable in the emulator's library listing. */
export function demoEmail(name: string, accountId: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'account';
  return `${slug}-${accountId.slice(-6)}@demo.photo-relay.invalid`;
}

/**
 * Demo mode: walk the real OAuth flow against the bundled emulator, whose consent page approves at once,
 * so a newcomer's accounts are linked without any Google credentials.
 */
export async function demoLink(services: Services, account: { id: string; name: string }): Promise<void> {
  const authUrl = await startLink(services, account.id, demoEmail(account.name, account.id));
  const consent = await fetch(authUrl, { redirect: 'manual' });
  const location = consent.headers.get('location');
  if (!location) throw new Error(`demo consent answered ${consent.status} without a redirect`);
  await finishLink(services, { ...parseRedirectUrl(location), accountId: account.id });
}

/** At start-up in demo mode the emulator is new and empty: link every account that is not deliberately unlinked. */
export async function demoLinkAll(services: Services): Promise<void> {
  const accounts = await services.db.account.findMany({ where: { googleStatus: { not: 'revoked' } }, select: { id: true, name: true } });
  for (const account of accounts) await demoLink(services, account);
}
