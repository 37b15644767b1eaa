import type { Services } from '../services.ts';
import { newId } from '../db/ids.ts';
import { ApiError } from '../http/errors.ts';
import { hashToken, isPairingCodeShape, newDeviceToken, newPairingCode, normalizePairingCode } from './tokens.ts';

export const PAIRING_TTL_MS = 15 * 60_000;

type Tx = Parameters<Parameters<Services['db']['$transaction']>[0]>[0];

export interface NewDevice {
  deviceId: string;
  token: string;
  accountId: string;
}

/**
 * Create a device of an account and its token (shown once; only its hash is kept). The one way devices come to be,
 * whether a phone redeems a pairing code, a Nextcloud app finishes its login flow, or the admin creates one.
 */
export async function createDevice(tx: Tx, input: { accountId: string; name: string; platform: string; now: Date }): Promise<NewDevice> {
  const token = newDeviceToken();
  const deviceId = newId();
  await tx.device.create({
    data: {
      id: deviceId,
      accountId: input.accountId,
      name: input.name,
      platform: input.platform,
      tokenHash: hashToken(token),
      lastSeenAt: input.now,
    },
  });
  return { deviceId, token, accountId: input.accountId };
}

export async function createPairing(services: Services, accountId: string) {
  const code = newPairingCode();
  const expiresAt = new Date(services.clock().getTime() + PAIRING_TTL_MS);
  await services.db.pairingCode.create({
    data: { id: newId(), accountId, codeHash: hashToken(normalizePairingCode(code)), expiresAt },
  });
  const pairUrl = `${services.config.publicUrl}/pair?code=${encodeURIComponent(code)}`;
  return { code, expiresAt: expiresAt.toISOString(), pairUrl };
}

/**
 * Exchange a one-time code for a device and its token. The code row is locked and spent in the same
 * transaction that creates the device, so two phones racing with one code get one device between them.
 */
export async function redeemPairing(services: Services, input: { code: string; name: string; platform: string }) {
  const normalized = normalizePairingCode(input.code);
  if (!isPairingCodeShape(normalized)) throw new ApiError('validation_failed', 'code is not a pairing code');
  const now = services.clock();
  return services.db.$transaction(async (tx) => {
    const [pairing] = await tx.$queryRaw<{ id: string; account_id: string; expires_at: Date; used_at: Date | null }[]>`
      SELECT id, account_id, expires_at, used_at FROM pairing_codes WHERE code_hash = ${hashToken(normalized)} FOR UPDATE`;
    // One answer for unknown, used and expired codes: nothing to learn by probing.
    if (!pairing || pairing.used_at || pairing.expires_at <= now) {
      throw new ApiError('not_found', 'Unknown, used or expired pairing code');
    }
    const created = await createDevice(tx, { accountId: pairing.account_id, name: input.name, platform: input.platform, now });
    await tx.pairingCode.update({ where: { id: pairing.id }, data: { usedAt: now, deviceId: created.deviceId } });
    return created;
  });
}
