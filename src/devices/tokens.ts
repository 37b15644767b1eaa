import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/** Device tokens carry a prefix so a misplaced one is recognisable (in a log, or on the wrong route). */
export const DEVICE_TOKEN_PREFIX = 'prd_';

export function newDeviceToken(): string {
  return DEVICE_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** Tokens are 256 random bits, so a fast hash is enough: nothing to brute-force, and lookups stay one index probe. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(Buffer.from(hashToken(a), 'hex'), Buffer.from(hashToken(b), 'hex'));
}

// Crockford base32 without the look-alikes I, L, O, U: easy to read aloud and to type on a phone.
const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_LENGTH = 10; // 50 bits: with 15-minute expiry and rate limiting, out of reach of guessing

export function newPairingCode(): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return `${code.slice(0, 5)}-${code.slice(5)}`;
}

/** Accept what people type: any case, dashes or spaces, and the letters Crockford maps to digits. */
export function normalizePairingCode(input: string): string {
  return input.toUpperCase().replace(/[\s-]/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}

export function isPairingCodeShape(normalized: string): boolean {
  return normalized.length === CODE_LENGTH && [...normalized].every((c) => CODE_ALPHABET.includes(c));
}
