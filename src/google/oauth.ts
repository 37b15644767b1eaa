import type { OAuth2Client } from 'google-auth-library';
import type { Config } from '../config/config.ts';
import { classifyNetworkError, classifyTokenError, GoogleError } from './outcomes.ts';

export const PHOTOS_APPEND = 'https://www.googleapis.com/auth/photoslibrary.appendonly';
export const PHOTOS_READ_APP_CREATED = 'https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata';
/** Photos access since March 2025, plus who the linked Google account is. */
export const SCOPES = [PHOTOS_APPEND, PHOTOS_READ_APP_CREATED, 'openid', 'email'];

/** The emulator's registered client, used when no Google client is configured (demo mode). */
export const DEMO_CLIENT = { id: 'photo-relay-demo', secret: 'demo-secret' };

export function redirectUri(config: Config): string {
  return `${config.publicUrl}/oauth/google/callback`;
}

/**
 * googleapis' OAuth2 client with the endpoints from config, so the same code talks to Google or the emulator.
 * googleapis is imported on first use: its index loads every Google API and costs seconds at start-up.
 */
export async function createOAuthClient(config: Config): Promise<OAuth2Client> {
  const { google } = await import('googleapis');
  return new google.auth.OAuth2({
    clientId: config.google.clientId ?? DEMO_CLIENT.id,
    clientSecret: config.google.clientSecret ?? DEMO_CLIENT.secret,
    redirectUri: redirectUri(config),
    endpoints: {
      oauth2AuthBaseUrl: config.google.authUrl,
      oauth2TokenUrl: config.google.tokenUrl,
      oauth2RevokeUrl: config.google.revokeUrl,
    },
  }) as unknown as OAuth2Client;
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
