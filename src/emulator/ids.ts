import { createHash, randomBytes } from 'node:crypto';

/** Unguessable opaque strings; the prefixes mimic Google's token shapes so logs read naturally. */
export const newId = (bytes = 24): string => randomBytes(bytes).toString('base64url');

export const ids = {
  authCode: () => `4/0A${newId(32)}`,
  accessToken: () => `ya29.a0${newId(48)}`,
  refreshToken: () => `1//0${newId(48)}`,
  uploadToken: () => `CAIS${newId(64)}`,
  mediaItem: () => `AF1Qip${newId(36)}`,
  album: () => `AF1QipA${newId(30)}`,
  session: () => newId(32),
};

/** Google's `sub` is a stable decimal id per account; derive it so the same email always gets the same one. */
export function subjectOf(email: string): string {
  const digest = createHash('sha256').update(email.toLowerCase()).digest();
  return '1' + digest.readBigUInt64BE(0).toString().padStart(20, '0').slice(0, 20);
}
