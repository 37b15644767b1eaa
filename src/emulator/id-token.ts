import { createHmac } from 'node:crypto';
import { subjectOf } from './ids.ts';
import { SCOPE } from './scopes.ts';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/**
 * An OpenID Connect id_token shaped like Google's. The signature is not verifiable (no Google keys here): clients
 * may decode it, and must not rely on offline verification against the emulator.
 */
export function idToken(p: { clientId: string; email: string; scopes: string[]; now: number }): string {
  const iat = Math.floor(p.now / 1000);
  const header = { alg: 'RS256', kid: 'photo-relay-emulator', typ: 'JWT' };
  // Google only puts the email in the token when the email scope was granted.
  const emailClaims = p.scopes.includes(SCOPE.email) ? { email: p.email, email_verified: true } : {};
  const payload = { iss: 'https://accounts.google.com', azp: p.clientId, aud: p.clientId, sub: subjectOf(p.email), ...emailClaims, iat, exp: iat + 3600 };
  const signingInput = `${b64(header)}.${b64(payload)}`;
  return `${signingInput}.${createHmac('sha256', 'emulator-fake-signature').update(signingInput).digest('base64url')}`;
}
