import type { OAuth2Client } from 'google-auth-library';
import type { Config } from '../config/config.ts';
import { classifyNetworkError, classifyTokenError, GoogleError } from './outcomes.ts';

export const PHOTOS_APPEND = 'https://www.googleapis.com/auth/photoslibrary.appendonly';
export const PHOTOS_READ_APP_CREATED = 'https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata';
/** Photos access since March 2025, plus who the linked Google account is. */
export const SCOPES = [PHOTOS_APPEND, PHOTOS_READ_APP_CREATED, 'openid', 'email'];

/** The emulator's registered client, used when no Google client is configured (demo mode). */
export const DEMO_CLIENT = { id: 'photo-relay-demo', secret: 'demo-secret' };

/** How the ledger names demo mode's client in accounts.google_client_id (a real client id never has parentheses). */
export const DEMO_LINK_CLIENT = '(demo)';

/** The client a link made now is recorded under: the configured Google client, or demo mode's emulator. */
export function linkClient(config: Config): string {
  return config.demoMode ? DEMO_LINK_CLIENT : config.google.clientId!;
}

export function redirectUri(config: Config): string {
  return `${config.publicUrl}/oauth/google/callback`;
}

let authLibrary: Promise<typeof import('google-auth-library')> | undefined;
const loadAuthLibrary = () => (authLibrary ??= import('google-auth-library'));

/**
 * Load the OAuth library now rather than on first use, so no job ever waits on module loading. This used to be
 * `import('googleapis')`, whose index loads every Google API: 2.5 s of CPU (7 s and more on a busy machine) of
 * synchronous work that blocked the event loop inside the first forwarding job, expiring the other jobs' open
 * database transactions (the quota ledger's), and added seconds to every worker start. `google.auth.OAuth2` is
 * google-auth-library's OAuth2Client (the one the types here already name), which loads in a tenth of that; the
 * relay declares google-auth-library and no longer googleapis (README, "Dependencies").
 */
export async function preloadOAuth(): Promise<void> {
  await loadAuthLibrary();
}

/** The OAuth2 client with the endpoints from config, so the same code talks to Google or the emulator. */
export async function createOAuthClient(config: Config): Promise<OAuth2Client> {
  const { OAuth2Client } = await loadAuthLibrary();
  return new OAuth2Client({
    clientId: config.google.clientId ?? DEMO_CLIENT.id,
    clientSecret: config.google.clientSecret ?? DEMO_CLIENT.secret,
    redirectUri: redirectUri(config),
    endpoints: {
      oauth2AuthBaseUrl: config.google.authUrl,
      oauth2TokenUrl: config.google.tokenUrl,
      oauth2RevokeUrl: config.google.revokeUrl,
    },
  });
}

/** Turn what the OAuth client threw (gaxios errors carry the token endpoint's answer) into our outcome table. */
export function classifyOAuthError(err: unknown): GoogleError {
  if (err instanceof GoogleError) return err;
  const response = (err as { response?: { status?: number; data?: unknown } }).response;
  if (response?.status) {
    const body = typeof response.data === 'string' ? response.data : JSON.stringify(response.data ?? {});
    return classifyTokenError(response.status, body);
  }
  return classifyNetworkError(err);
}

/** The e-mail in an ID token straight from the token endpoint (TLS-authenticated, so no signature check is needed: OIDC core 3.1.3.7). */
export function emailFromIdToken(idToken: string | null | undefined): string | null {
  const payload = idToken?.split('.')[1];
  if (!payload) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { email?: unknown };
    return typeof claims.email === 'string' ? claims.email : null;
  } catch {
    return null;
  }
}
