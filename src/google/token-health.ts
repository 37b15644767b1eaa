import type { Config } from '../config/config.ts';

export type TokenHealth = 'ok' | 'expiring' | 'failed' | 'unlinked';

const DAY_MS = 86_400_000;
/** Google expires refresh tokens of apps whose consent screen is in Testing after 7 days; warn a day ahead. */
const TESTING_TOKEN_LIFETIME_MS = 7 * DAY_MS;
const WARN_AFTER_MS = 6 * DAY_MS;

/** Whether an account's Google link will keep working, flagged before forwarding fails. */
export function tokenHealth(
  config: Config,
  account: { googleStatus: string; googleLinkedAt: Date | null; googleError: string | null },
  now: Date,
): { health: TokenHealth; warning?: string } {
  if (account.googleStatus === 'needs_reauth') {
    return { health: 'failed', warning: `Google refused this account's link: ${account.googleError ?? 'refresh failed'}. Link it again.` };
  }
  if (account.googleStatus !== 'linked') return { health: 'unlinked' };
  if (config.google.appStatus === 'testing' && account.googleLinkedAt && now.getTime() - account.googleLinkedAt.getTime() > WARN_AFTER_MS) {
    const expires = new Date(account.googleLinkedAt.getTime() + TESTING_TOKEN_LIFETIME_MS);
    return {
      health: 'expiring',
      warning: `The Google app is in Testing, so this link expires at ${expires.toISOString()}: link again, or publish the consent screen.`,
    };
  }
  return { health: 'ok' };
}
