import { createHash } from 'node:crypto';
import type { Clock } from './clock.ts';
import type { EmulatorConfig } from './config.ts';
import { ids } from './ids.ts';

export interface Grant {
  id: string;
  email: string;
  clientId: string;
  scopes: string[];
  refreshToken: string | null;
  createdAt: number;
  lastUsedAt: number;
  revokedAt: number | null;
}

export interface AccessToken {
  token: string;
  grant: Grant;
  expiresAt: number;
  invalidated: boolean;
}

interface AuthCode {
  code: string;
  email: string;
  clientId: string;
  redirectUri: string;
  scopes: string[];
  issueRefreshToken: boolean;
  pkce?: { challenge: string; method: 'S256' | 'plain' };
  expiresAt: number;
  used: boolean;
}

export type TokenResult = { ok: true; grant: Grant; access: AccessToken } | { ok: false; error: 'invalid_grant' | 'redirect_uri_mismatch' };

/** Authorization codes, grants (one per consent), refresh and access tokens, with Google's lifetimes on the emulator clock. */
export class OAuthStore {
  readonly #codes = new Map<string, AuthCode>();
  readonly #grants: Grant[] = [];
  readonly #byRefresh = new Map<string, Grant>();
  readonly #access = new Map<string, AccessToken>();
  readonly #consented = new Set<string>();

  constructor(
    private readonly clock: Clock,
    private readonly config: EmulatorConfig,
  ) {}

  hasConsented(email: string, clientId: string): boolean {
    return this.#consented.has(`${clientId} ${email}`);
  }

  /**
   * Google hands out a refresh token only for offline access, and on a repeat consent only when prompt=consent
   * forced the consent screen again: a client that drops `prompt=consent` silently gets none.
   */
  issueCode(p: {
    email: string;
    clientId: string;
    redirectUri: string;
    scopes: string[];
    offline: boolean;
    forcedConsent: boolean;
    pkce?: { challenge: string; method: 'S256' | 'plain' };
  }): string {
    const firstConsent = !this.hasConsented(p.email, p.clientId);
    this.#consented.add(`${p.clientId} ${p.email}`);
    const code = ids.authCode();
    this.#codes.set(code, {
      code,
      email: p.email,
      clientId: p.clientId,
      redirectUri: p.redirectUri,
      scopes: p.scopes,
      issueRefreshToken: p.offline && (firstConsent || p.forcedConsent),
      ...(p.pkce ? { pkce: p.pkce } : {}),
      expiresAt: this.clock.now() + this.config.authCodeTtlMs,
      used: false,
    });
    return code;
  }

  emailOfCode(code: string): string | undefined {
    return this.#codes.get(code)?.email;
  }

  redeemCode(code: string, clientId: string, redirectUri: string | undefined, codeVerifier?: string): TokenResult {
    const entry = this.#codes.get(code);
    if (!entry || entry.used || entry.clientId !== clientId || this.clock.now() >= entry.expiresAt) {
      return { ok: false, error: 'invalid_grant' };
    }
    if (redirectUri !== entry.redirectUri) return { ok: false, error: 'redirect_uri_mismatch' };
    if (entry.pkce && !verifierMatches(entry.pkce, codeVerifier)) return { ok: false, error: 'invalid_grant' };
    entry.used = true;
    const now = this.clock.now();
    const grant: Grant = {
      id: ids.session(),
      email: entry.email,
      clientId,
      scopes: entry.scopes,
      refreshToken: entry.issueRefreshToken ? ids.refreshToken() : null,
      createdAt: now,
      lastUsedAt: now,
      revokedAt: null,
    };
    this.#grants.push(grant);
    if (grant.refreshToken) this.#byRefresh.set(grant.refreshToken, grant);
    return { ok: true, grant, access: this.#issueAccess(grant) };
  }

  emailOfRefreshToken(token: string): string | undefined {
    return this.#byRefresh.get(token)?.email;
  }

  refresh(refreshToken: string, clientId: string): TokenResult {
    const grant = this.#byRefresh.get(refreshToken);
    const now = this.clock.now();
    if (!grant || grant.revokedAt !== null || grant.clientId !== clientId) return { ok: false, error: 'invalid_grant' };
    const { refreshTokenTtlMs: ttl, refreshTokenIdleMs: idle } = this.config;
    if ((ttl !== null && now >= grant.createdAt + ttl) || (idle !== null && now >= grant.lastUsedAt + idle)) {
      return { ok: false, error: 'invalid_grant' };
    }
    grant.lastUsedAt = now;
    return { ok: true, grant, access: this.#issueAccess(grant) };
  }

  /** Revoking either token of a grant revokes the whole grant, as Google does. */
  revoke(token: string): boolean {
    const grant = this.#byRefresh.get(token) ?? this.#access.get(token)?.grant;
    if (!grant || grant.revokedAt !== null) return false;
    grant.revokedAt = this.clock.now();
    return true;
  }

  /** The token's record whatever its state: used to attribute a request (fault matching, stats) before judging it. */
  lookupAccess(token: string): AccessToken | undefined {
    return this.#access.get(token);
  }

  authenticate(token: string): AccessToken | undefined {
    const access = this.#access.get(token);
    if (!access || access.invalidated || access.grant.revokedAt !== null) return undefined;
    return this.clock.now() < access.expiresAt ? access : undefined;
  }

  revokeRefreshTokens(email?: string): number {
    let n = 0;
    for (const g of this.#grants) {
      if (g.revokedAt === null && (email === undefined || g.email === email)) {
        g.revokedAt = this.clock.now();
        n++;
      }
    }
    return n;
  }

  invalidateAccessTokens(email?: string): number {
    let n = 0;
    for (const a of this.#access.values()) {
      if (!a.invalidated && (email === undefined || a.grant.email === email)) {
        a.invalidated = true;
        n++;
      }
    }
    return n;
  }

  grants(): readonly Grant[] {
    return this.#grants;
  }

  #issueAccess(grant: Grant): AccessToken {
    const access: AccessToken = {
      token: ids.accessToken(),
      grant,
      expiresAt: this.clock.now() + this.config.accessTokenTtlSec * 1000,
      invalidated: false,
    };
    this.#access.set(access.token, access);
    return access;
  }
}

function verifierMatches(pkce: { challenge: string; method: 'S256' | 'plain' }, verifier: string | undefined): boolean {
  if (!verifier) return false;
  const derived = pkce.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
  return derived === pkce.challenge;
}
