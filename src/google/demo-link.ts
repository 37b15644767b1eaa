import type { Services } from '../services.ts';
import { finishLink, parseRedirectUrl, startLink } from './linking.ts';
import { DEMO_LINK_CLIENT } from './oauth.ts';

/** The demo's Google user for an account: stable across restarts, readable in the emulator's library listing. */
export function demoEmail(name: string, accountId: string): string {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'account';
  return `${slug}-${accountId.slice(-6)}@demo.photo-relay.invalid`;
}

/**
 * Walk the real OAuth flow against the bundled emulator, whose consent page approves at once. Only for an account
 * demo mode owns; `replace`, because its previous demo link (if any) lived in an emulator that is gone.
 */
async function linkToEmulator(services: Services, account: { id: string; name: string }): Promise<void> {
  const authUrl = await startLink(services, account.id, { loginHint: demoEmail(account.name, account.id), replace: true });
  const consent = await fetch(authUrl, { redirect: 'manual' });
  const location = consent.headers.get('location');
  if (!location) throw new Error(`demo consent answered ${consent.status} without a redirect`);
  await finishLink(services, { ...parseRedirectUrl(location), accountId: account.id });
}

/**
 * An account just created in demo mode: record that demo mode owns it (only an account that never had a link can be
 * claimed), then link it, so a newcomer's accounts work without any Google credentials.
 */
export async function demoLink(services: Services, account: { id: string; name: string }): Promise<void> {
  await services.db.account.updateMany({
    where: { id: account.id, googleClientId: null, googleStatus: 'unlinked', googleLinkedAt: null },
    data: { googleClientId: DEMO_LINK_CLIENT },
  });
  await linkToEmulator(services, account);
}

/**
 * At start-up in demo mode the emulator is new and empty: link again every account demo mode owns and the admin did
 * not unlink. Accounts of a real Google client are never touched (start-up refuses while any is linked, see
 * client-guard.ts), nor accounts created outside demo mode.
 */
export async function demoLinkAll(services: Services): Promise<void> {
  const accounts = await services.db.account.findMany({
    where: { googleClientId: DEMO_LINK_CLIENT, googleStatus: { not: 'revoked' } },
    select: { id: true, name: true },
  });
  for (const account of accounts) await linkToEmulator(services, account);
}
