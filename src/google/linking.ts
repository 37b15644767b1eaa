import { randomBytes } from 'node:crypto';
import type { Services } from '../services.ts';
import { newId } from '../db/ids.ts';
import { hashToken } from '../devices/tokens.ts';
import { ApiError } from '../http/errors.ts';
import { classifyOAuthError, createOAuthClient, emailFromIdToken, PHOTOS_APPEND, PHOTOS_READ_APP_CREATED, redirectUri, SCOPES } from './oauth.ts';
import { TokenCipher } from './token-cipher.ts';

const STATE_TTL_MS = 15 * 60_000;

/** A consent URL for one account; its state is single use, expires, and names the account it links. */
export async function startLink(services: Services, accountId: string, loginHint?: string): Promise<string> {
  const state = randomBytes(32).toString('base64url');
  await services.db.oAuthState.create({
    data: { id: newId(), accountId, stateHash: hashToken(state), expiresAt: new Date(services.clock().getTime() + STATE_TTL_MS) },
  });
  const client = await createOAuthClient(services.config);
  return client.generateAuthUrl({
    access_type: 'offline',
    // Without prompt=consent Google gives no refresh token to an app the user approved before.
    prompt: 'consent',
    scope: SCOPES,
    state,
    include_granted_scopes: false,
    ...(loginHint ? { login_hint: loginHint } : {}),
  });
}

/** Exchange the code from Google's redirect for tokens and link the account the state names. */
export async function finishLink(services: Services, input: { code: string; state: string; accountId?: string }): Promise<{ accountId: string; email: string | null }> {
  const { db } = services;
  const now = services.clock();
  const accountId = await db.$transaction(async (tx) => {
    const state = await tx.oAuthState.findUnique({ where: { stateHash: hashToken(input.state) } });
    if (!state || state.usedAt || state.expiresAt <= now || (input.accountId && state.accountId !== input.accountId)) {
      throw new ApiError('validation_failed', 'Unknown, used or expired authorization state: start the link again');
    }
    await tx.oAuthState.update({ where: { id: state.id }, data: { usedAt: now } });
    return state.accountId;
  });

  const client = await createOAuthClient(services.config);
  let tokens;
  try {
    ({ tokens } = await client.getToken({ code: input.code, redirect_uri: redirectUri(services.config) }));
  } catch (err) {
    throw new ApiError('validation_failed', `Google refused the authorization code: ${classifyOAuthError(err).message}`);
  }
  const granted = new Set((tokens.scope ?? '').split(/\s+/));
  if (!granted.has(PHOTOS_APPEND) || !granted.has(PHOTOS_READ_APP_CREATED)) {
    throw new ApiError('validation_failed', 'The consent did not grant access to Google Photos: tick the Photos permissions and link again');
  }
  if (!tokens.refresh_token) {
    throw new ApiError('validation_failed', 'Google sent no refresh token: remove the app\'s access in your Google account settings and link again');
  }
  const email = emailFromIdToken(tokens.id_token);
  const cipher = new TokenCipher(services.config.encryptionKey!);
  await db.account.update({
    where: { id: accountId },
    data: {
      googleStatus: 'linked',
      googleEmail: email,
      googleLinkedAt: now,
      googleRefreshToken: new Uint8Array(cipher.seal(tokens.refresh_token, accountId)),
      googleError: null,
      throttledUntil: null,
    },
  });
  services.log.info({ accountId, email }, 'Google account linked');
  // Everything that waited for the link goes now.
  await services.scheduler.account(accountId);
  return { accountId, email };
}

/** Parse a redirect URL the admin pasted (for when the browser could not reach the relay). */
export function parseRedirectUrl(redirectUrl: string): { code: string; state: string } {
  let url: URL;
  try {
    url = new URL(redirectUrl);
  } catch {
    throw new ApiError('validation_failed', 'redirectUrl is not a URL');
  }
  const error = url.searchParams.get('error');
  if (error) throw new ApiError('validation_failed', `Google reported: ${error}`);
  const code = url.searchParams.get('code');
  const state = url.searchParams.get('state');
  if (!code || !state) throw new ApiError('validation_failed', 'redirectUrl carries no code and state');
  return { code, state };
}

/** Revoke at Google (best effort: the token may be dead already) and forget the tokens; assets wait in needs_reauth. */
export async function unlink(services: Services, accountId: string): Promise<void> {
  const account = await services.db.account.findUniqueOrThrow({ where: { id: accountId } });
  if (account.googleRefreshToken && services.config.encryptionKey) {
    try {
      const refreshToken = new TokenCipher(services.config.encryptionKey).open(account.googleRefreshToken, accountId);
      const client = await createOAuthClient(services.config);
      await client.revokeToken(refreshToken);
    } catch (err) {
      services.log.warn({ accountId, reason: classifyOAuthError(err).message }, 'revoking the Google token failed; forgetting it anyway');
    }
  }
  await services.db.account.update({
    where: { id: accountId },
    data: { googleStatus: 'revoked', googleRefreshToken: null, googleEmail: null, googleLinkedAt: null, googleError: null },
  });
}
