import type { OAuth2Client } from 'google-auth-library';
import type { Services } from '../services.ts';
import { classifyOAuthError, createOAuthClient } from './oauth.ts';
import { GoogleError } from './outcomes.ts';
import type { AccessTokens } from './photos-client.ts';
import { TokenCipher } from './token-cipher.ts';

/**
 * Access tokens per account, refreshed from the encrypted refresh token. A refresh Google refuses for good
 * (invalid_grant) puts the account in needs_reauth: its deliveries wait, nothing is dropped.
 */
export class AccountTokens {
  private readonly clients = new Map<string, Promise<OAuth2Client>>();
  private readonly ready = new Map<string, OAuth2Client>();
  private readonly cipher: TokenCipher;

  constructor(private readonly services: Services) {
    this.cipher = new TokenCipher(services.config.encryptionKey!);
  }

  forAccount(accountId: string): AccessTokens {
    return {
      get: () => this.accessToken(accountId),
      invalidate: () => {
        // Keep only the refresh token: the next get() must fetch a fresh access token.
        const client = this.ready.get(accountId);
        client?.setCredentials({ refresh_token: client.credentials.refresh_token ?? null });
      },
    };
  }

  /** Forget the cached client (after a re-link, the refresh token changed). */
  forget(accountId: string): void {
    this.clients.delete(accountId);
    this.ready.delete(accountId);
  }

  private async client(accountId: string): Promise<OAuth2Client> {
    let client = this.clients.get(accountId);
    if (!client) {
      client = this.load(accountId);
      this.clients.set(accountId, client);
      client.catch(() => this.forget(accountId));
    }
    return client;
  }

  private async load(accountId: string): Promise<OAuth2Client> {
    const account = await this.services.db.account.findUniqueOrThrow({ where: { id: accountId } });
    if (account.googleStatus !== 'linked' || !account.googleRefreshToken) {
      throw new GoogleError('reauth', 'the account has no Google link');
    }
    const client = await createOAuthClient(this.services.config);
    client.setCredentials({ refresh_token: this.cipher.open(account.googleRefreshToken, accountId) });
    // Google may rotate the refresh token: persist a new one at once, encrypted.
    client.on('tokens', (tokens) => {
      if (!tokens.refresh_token) return;
      void this.services.db.account
        .update({ where: { id: accountId }, data: { googleRefreshToken: new Uint8Array(this.cipher.seal(tokens.refresh_token, accountId)) } })
        .catch((err: unknown) => this.services.log.error({ err, accountId }, 'could not persist a rotated refresh token'));
    });
    this.ready.set(accountId, client);
    return client;
  }

  private async accessToken(accountId: string): Promise<string> {
    const client = await this.client(accountId);
    try {
      const { token } = await client.getAccessToken();
      if (!token) throw new GoogleError('transient', 'token endpoint gave no access token');
      return token;
    } catch (err) {
      const error = classifyOAuthError(err);
      if (error.outcome === 'reauth') await markNeedsReauth(this.services, accountId, error.message);
      throw error;
    }
  }
}

export async function markNeedsReauth(services: Services, accountId: string, reason: string): Promise<void> {
  await services.db.account.updateMany({
    where: { id: accountId, googleStatus: 'linked' },
    data: { googleStatus: 'needs_reauth', googleError: reason },
  });
  services.log.warn({ accountId, reason }, 'Google link needs re-authorization; forwarding for this account waits');
}
