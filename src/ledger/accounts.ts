import type { Db } from '../db/client.ts';

export type AccountRemoval = { removed: true } | { removed: false; activeDevices: number; undelivered: number };

/** Removing an account takes its history (assets, deliveries, revoked devices) with it, in one transaction. */
export class AccountLedger {
  constructor(private readonly db: Db) {}

  /**
   * Refused while the account has devices that are not revoked, or content not yet in its Google library: deleting
   * then would lose photos. Blobs no account needs any more are purged by retention.
   */
  async remove(id: string): Promise<AccountRemoval> {
    return this.db.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT id FROM accounts WHERE id = ${id}::uuid FOR UPDATE`;
      const activeDevices = await tx.device.count({ where: { accountId: id, revokedAt: null } });
      const undelivered = await tx.delivery.count({ where: { accountId: id, state: { not: 'backed_up' } } });
      if (activeDevices > 0 || undelivered > 0) return { removed: false, activeDevices, undelivered } as const;
      await tx.asset.deleteMany({ where: { accountId: id } });
      await tx.delivery.deleteMany({ where: { accountId: id } });
      await tx.device.deleteMany({ where: { accountId: id } });
      await tx.account.delete({ where: { id } });
      return { removed: true } as const;
    });
  }
}
