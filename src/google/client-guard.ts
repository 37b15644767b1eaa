import { StartRefused } from '../ops/start-refused.ts';
import type { Services } from '../services.ts';
import { markNeedsReauth } from './account-tokens.ts';
import { DEMO_LINK_CLIENT, linkClient } from './oauth.ts';

const describe = (client: string | null) =>
  client === DEMO_LINK_CLIENT ? 'demo mode (the bundled emulator)' : client === null ? 'an OAuth client the ledger did not record' : `the OAuth client ${client}`;

/**
 * Start-up check: every live link must belong to the OAuth client configured now (demo mode counting as a client of
 * its own). A start without GOOGLE_CLIENT_ID on a ledger linked to Google would otherwise be demo mode, and a
 * different client cannot refresh the stored tokens anyway: refuse and say what to set. With
 * ACCEPT_GOOGLE_CLIENT_CHANGE=true the foreign links are put in needs_reauth instead (kept, never re-linked here):
 * the admin links those accounts again when ready.
 *
 * Links made before clients were recorded (google_client_id NULL; demo links were recognised by the migration)
 * are adopted by a configured Google client, the one that was most likely configured when they were made; demo mode
 * cannot know them, so it refuses them like any foreign link.
 */
export async function guardGoogleClient(services: Services): Promise<void> {
  const { config, db, log } = services;
  const current = linkClient(config);
  if (!config.demoMode) {
    const adopted = await db.account.updateMany({
      where: { googleClientId: null, googleStatus: { in: ['linked', 'needs_reauth'] } },
      data: { googleClientId: current },
    });
    if (adopted.count > 0) log.info({ accounts: adopted.count, clientId: current }, 'recorded the configured Google client for links made before clients were recorded');
  }
  const foreign = await db.account.findMany({
    where: { googleStatus: 'linked', OR: [{ googleClientId: null }, { googleClientId: { not: current } }] },
    select: { id: true, name: true, googleClientId: true, googleRefreshToken: true },
    orderBy: { name: 'asc' },
  });
  if (foreign.length === 0) return;

  const clients = [...new Set(foreign.map((a) => a.googleClientId))];
  const names = foreign.slice(0, 5).map((a) => a.name).join(', ') + (foreign.length > 5 ? `, and ${foreign.length - 5} more` : '');
  if (!config.acceptGoogleClientChange) {
    throw new StartRefused(
      `${foreign.length} account(s) (${names}) are linked through ${clients.map(describe).join(' and ')}, but this start uses ${describe(current)}. ${remedy(clients, current)} ` +
        'To start with the new client anyway, set ACCEPT_GOOGLE_CLIENT_CHANGE=true: those accounts then show needs_reauth until you link them again.',
    );
  }
  for (const account of foreign) {
    const reason = `linked through ${describe(account.googleClientId)}, but the relay now uses ${describe(current)}: link the account again`;
    await markNeedsReauth(services, account.id, reason, account.googleRefreshToken ? Buffer.from(account.googleRefreshToken) : undefined);
  }
  log.warn({ accounts: foreign.map((a) => a.id), clientId: current }, 'ACCEPT_GOOGLE_CLIENT_CHANGE: accounts linked through another OAuth client need to be linked again');
}

/** What to set to keep the existing links. */
function remedy(clients: (string | null)[], current: string): string {
  const real = clients.filter((c): c is string => c !== null && c !== DEMO_LINK_CLIENT);
  if (current === DEMO_LINK_CLIENT) {
    return real.length === 1
      ? `Set GOOGLE_CLIENT_ID=${real[0]} and its GOOGLE_CLIENT_SECRET (a missing GOOGLE_CLIENT_ID means demo mode).`
      : 'Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET to the Google client that linked them (a missing GOOGLE_CLIENT_ID means demo mode).';
  }
  if (real.length === 1 && clients.length === 1) return `Set GOOGLE_CLIENT_ID=${real[0]} and its GOOGLE_CLIENT_SECRET to keep them.`;
  return clients.includes(DEMO_LINK_CLIENT)
    ? 'To keep demo mode, unset GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET.'
    : 'Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET to the Google client that linked them.';
}
