import type { OAuth2Client } from 'google-auth-library';
import type { Services } from '../services.ts';
import { classifyOAuthError, createOAuthClient } from './oauth.ts';
import { GoogleError } from './outcomes.ts';
import type { AccessTokens } from './photos-client.ts';
import { TokenCipher } from './token-cipher.ts';

interface Loaded {
  client: OAuth2Client;
  /** The row's ciphertext this client was built from: tells a stale client (the account was re-linked) from a dead link. */
  sealed: Buffer;
}

/**
 * Access tokens per account, refreshed from the encrypted refresh token. A refresh Google refuses for good
 * (invalid_grant) puts the account in needs_reauth: its deliveries wait, nothing is dropped.
 */
export class AccountTokens {
  private readonly loading = new Map<string, Promise<Loaded>>();
  private readonly ready = new Map<string, Loaded>();
  private readonly cipher: TokenCipher;

  constructor(private readonly services: Services) {
    this.cipher = new TokenCipher(services.config.encryptionKey!);
  }

  /**
   * `sealed`: the link's refresh token ciphertext as the caller read it a moment ago (with the delivery), so the
   * link check needs no read of its own; absent, it reads the account.
   */
  forAccount(accountId: string, sealed?: Buffer | null): AccessTokens {
    let known = sealed;
    return {
      get: () => {
        const link = known;
        known = undefined; // once: a retry after a refusal reads the link afresh
        return this.accessToken(accountId, false, link);
      },
      invalidate: () => {
        // Keep only the refresh token: the next get() must fetch a fresh access token.
        const client = this.ready.get(accountId)?.client;
        client?.setCredentials({ refresh_token: client.credentials.refresh_token ?? null });
      },
    };
  }

  forget(accountId: string): void {
    this.loading.delete(accountId);
    this.ready.delete(accountId);
  }

  private load(accountId: string): Promise<Loaded> {
    let loaded = this.loading.get(accountId);
    if (!loaded) {
      loaded = this.build(accountId);
      this.loading.set(accountId, loaded);
      loaded.then(
        (l) => this.ready.set(accountId, l),
        () => this.forget(accountId),
      );
    }
    return loaded;
  }

  /**
   * The cached client, unless the account's link changed since it was built: re-linked (maybe to another Google
   * user), unlinked, or its refresh token rotated, perhaps by another process. Only failures used to be checked,
   * and Google still honours the old grant after a re-link without unlink, so photos kept going to the previous
   * user's library, marked backed up, until the worker restarted. One indexed read per request stops that.
   */
  private async current(accountId: string, sealed?: Buffer | null): Promise<Loaded> {
    const link =
      sealed !== undefined
        ? { googleStatus: 'linked', googleRefreshToken: sealed }
        : this.services.db.account.findUnique({ where: { id: accountId }, select: { googleStatus: true, googleRefreshToken: true } });
    const [loaded, row] = await Promise.all([this.load(accountId), link]);
    if (row?.googleStatus === 'linked' && row.googleRefreshToken && loaded.sealed.equals(Buffer.from(row.googleRefreshToken))) return loaded;
    this.forget(accountId);
    return this.load(accountId);
  }

  private async build(accountId: string): Promise<Loaded> {
    const account = await this.services.db.account.findUniqueOrThrow({ where: { id: accountId } });
    if (account.googleStatus !== 'linked' || !account.googleRefreshToken) {
      throw new GoogleError('reauth', 'the account has no Google link');
    }
    const sealed = Buffer.from(account.googleRefreshToken);
    const client = await createOAuthClient(this.services.config);
    client.setCredentials({ refresh_token: this.cipher.open(sealed, accountId) });
    // Google may rotate the refresh token: persist a new one at once, encrypted.
    client.on('tokens', (tokens) => {
      if (!tokens.refresh_token) return;
      void this.services.db.account
        .update({ where: { id: accountId }, data: { googleRefreshToken: new Uint8Array(this.cipher.seal(tokens.refresh_token, accountId)) } })
        .catch((err: unknown) => this.services.log.error({ err, accountId }, 'could not persist a rotated refresh token'));
    });
    return { client, sealed };
  }

  private async accessToken(accountId: string, retried = false, link?: Buffer | null): Promise<string> {
    const { client, sealed } = await this.current(accountId, link);
    try {
      const { token } = await client.getAccessToken();
      if (!token) throw new GoogleError('transient', 'token endpoint gave no access token');
      return token;
    } catch (err) {
      const error = classifyOAuthError(err);
      if (error.outcome !== 'reauth') throw error;
      this.forget(accountId);
      // Only the refresh token we used is dead: if the account was re-linked meanwhile, try the new one.
      const marked = await markNeedsReauth(this.services, accountId, error.message, sealed);
      if (!marked && !retried) return this.accessToken(accountId, true);
      throw error;
    }
  }
}

/** Mark the link broken, but only while it still holds `sealed` (when given): a newer link is not undone. */
export async function markNeedsReauth(services: Services, accountId: string, reason: string, sealed?: Buffer): Promise<boolean> {
  const updated = sealed
    ? await services.db.$executeRaw`
        UPDATE accounts SET google_status = 'needs_reauth', google_error = ${reason}, updated_at = now()
        WHERE id = ${accountId}::uuid AND google_status = 'linked' AND google_refresh_token = ${sealed}`
    : await services.db.$executeRaw`
        UPDATE accounts SET google_status = 'needs_reauth', google_error = ${reason}, updated_at = now()
        WHERE id = ${accountId}::uuid AND google_status = 'linked'`;
  if (updated > 0) services.log.warn({ accountId, reason }, 'Google link needs re-authorization; forwarding for this account waits');
  return updated > 0;
}
