import { randomBytes } from 'node:crypto';
import type { CodeChallengeMethod } from 'google-auth-library';
import type { Services } from '../services.ts';
import { newId } from '../db/ids.ts';
import { hashToken } from '../devices/tokens.ts';
import { ApiError } from '../http/errors.ts';
import {
  classifyOAuthError,
  createOAuthClient,
  DEMO_LINK_CLIENT,
  emailFromIdToken,
  linkClient,
  PHOTOS_APPEND,
  PHOTOS_READ_APP_CREATED,
  redirectUri,
  SCOPES,
} from './oauth.ts';
import { TokenCipher } from './token-cipher.ts';

const STATE_TTL_MS = 15 * 60_000;

export interface StartLinkOptions {
  loginHint?: string;
  /** The admin means to replace a link to another Google account (otherwise completing such a consent is a 409). */
  replace?: boolean;
}

/**
 * A consent URL for one account. Its state is single use, expires, names the account it links, and is the account's
 * only one: a new authorize voids the earlier ones. PKCE (S256) binds the code Google returns to this attempt: the
 * verifier stays on the server, sealed in the state's row, since the callback is a plain browser redirect.
 */
export async function startLink(services: Services, accountId: string, options: StartLinkOptions = {}): Promise<string> {
  const { db, config } = services;
  const state = randomBytes(32).toString('base64url');
  const client = await createOAuthClient(config);
  const { codeVerifier, codeChallenge } = await client.generateCodeVerifierAsync();
  const id = newId();
  const sealed = new TokenCipher(config.encryptionKey!).seal(codeVerifier, id);
  await db.$transaction(async (tx) => {
    // The account row's lock orders concurrent authorizes: exactly one state survives.
    const [account] = await tx.$queryRaw<{ google_client_id: string | null }[]>`
      SELECT google_client_id FROM accounts WHERE id = ${accountId}::uuid FOR UPDATE`;
    if (!account) throw new ApiError('not_found', 'No such account');
    if (config.demoMode && account.google_client_id !== DEMO_LINK_CLIENT) {
      throw new ApiError(
        'conflict',
        'Demo mode links only accounts created in demo mode; this one belongs to a real Google client. Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET to link it.',
      );
    }
    await tx.oAuthState.deleteMany({ where: { accountId } });
    await tx.oAuthState.create({
      data: {
        id,
        accountId,
        stateHash: hashToken(state),
        codeVerifier: new Uint8Array(sealed),
        replace: options.replace ?? false,
        expiresAt: new Date(services.clock().getTime() + STATE_TTL_MS),
      },
    });
  });
  return client.generateAuthUrl({
    access_type: 'offline',
    // Without prompt=consent Google gives no refresh token to an app the user approved before.
    prompt: 'consent',
    scope: SCOPES,
    state,
    include_granted_scopes: false,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256' as CodeChallengeMethod,
    ...(options.loginHint ? { login_hint: options.loginHint } : {}),
  });
}

/** Spend the state (whatever happens next) and hand back what the token exchange needs. */
async function spendState(services: Services, input: { state: string; accountId?: string }) {
  const now = services.clock();
  const row = await services.db.$transaction(async (tx) => {
    const state = await tx.oAuthState.findUnique({ where: { stateHash: hashToken(input.state) } });
    if (!state || state.usedAt || state.expiresAt <= now || (input.accountId && state.accountId !== input.accountId)) {
      throw new ApiError('validation_failed', 'Unknown, used, replaced or expired authorization state: start the link again');
    }
    const spent = await tx.oAuthState.updateMany({ where: { id: state.id, usedAt: null }, data: { usedAt: now } });
    if (spent.count !== 1) throw new ApiError('validation_failed', 'This authorization state was used already: start the link again');
    return state;
  });
  const codeVerifier = new TokenCipher(services.config.encryptionKey!).open(row.codeVerifier, row.id);
  return { accountId: row.accountId, codeVerifier, replace: row.replace };
}

/**
 * Exchange the code from Google's redirect for tokens and link the account the state names. A consent for another
 * Google account than the one linked now replaces the link only when the admin said so (`replace`), at authorize
 * or here: otherwise 409, and the account keeps its link.
 */
export async function finishLink(
  services: Services,
  input: { code: string; state: string; accountId?: string; replace?: boolean },
): Promise<{ accountId: string; email: string | null }> {
  const { db } = services;
  const now = services.clock();
  const { accountId, codeVerifier, replace } = await spendState(services, input);

  const client = await createOAuthClient(services.config);
  let tokens;
  try {
    ({ tokens } = await client.getToken({ code: input.code, redirect_uri: redirectUri(services.config), codeVerifier }));
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
  // One conditional write: the account is linked to nobody, or to this same Google account, unless replacing.
  const sameOwner = { OR: [{ googleEmail: null }, ...(email ? [{ googleEmail: { equals: email, mode: 'insensitive' as const } }] : [])] };
  const linked = await db.account.updateMany({
    where: { id: accountId, ...(replace || input.replace ? {} : sameOwner) },
    data: {
      googleStatus: 'linked',
      googleEmail: email,
      googleLinkedAt: now,
      googleRefreshToken: new Uint8Array(cipher.seal(tokens.refresh_token, accountId)),
      googleClientId: linkClient(services.config),
      googleError: null,
      throttledUntil: null,
    },
  });
  if (linked.count !== 1) {
    // The new grant is of no use: give it back rather than leave it valid at Google.
    await client.revokeToken(tokens.refresh_token).catch(() => {});
    if (!(await db.account.count({ where: { id: accountId } }))) throw new ApiError('not_found', 'No such account');
    // The callback is a public page: name only the Google account that just consented, never the linked one.
    throw new ApiError(
      'conflict',
      `This account is linked to another Google account than ${email ?? 'the one that consented'}; nothing was changed. To move the account to ${email ?? 'it'}, link again with "replace": true.`,
    );
  }
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

/**
 * Revoke at Google (best effort: the token may be dead already) and forget the tokens; assets wait in needs_reauth.
 * The account keeps its google_client_id: it says whose account this is (demo mode links only its own).
 */
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
