const AUTH = 'https://www.googleapis.com/auth/';

export const SCOPE = {
  append: `${AUTH}photoslibrary.appendonly`,
  readAppCreated: `${AUTH}photoslibrary.readonly.appcreateddata`,
  editAppCreated: `${AUTH}photoslibrary.edit.appcreateddata`,
  email: `${AUTH}userinfo.email`,
  profile: `${AUTH}userinfo.profile`,
  openid: 'openid',
} as const;

// Google answers with the long form of the identity shorthands, so a client must not compare scope strings verbatim.
const ALIASES: Record<string, string> = { email: SCOPE.email, profile: SCOPE.profile };

export const normalizeScope = (s: string): string => ALIASES[s] ?? s;

const GRANTABLE = new Set<string>(Object.values(SCOPE));

/** Retired on 31 March 2025: requesting them fails like any unknown scope. */
const RETIRED = new Set([`${AUTH}photoslibrary`, `${AUTH}photoslibrary.readonly`, `${AUTH}photoslibrary.sharing`]);

export type ScopeParse = { ok: true; scopes: string[] } | { ok: false; invalid: string[] };

export function parseScopes(raw: string): ScopeParse {
  const requested = raw.split(/\s+/).filter(Boolean).map(normalizeScope);
  const invalid = requested.filter((s) => RETIRED.has(s) || !GRANTABLE.has(s));
  if (invalid.length > 0) return { ok: false, invalid };
  return { ok: true, scopes: [...new Set(requested)] };
}

export const hasScope = (granted: readonly string[], scope: string): boolean => granted.includes(scope);
