import type { Db } from '../db/client.ts';

/** What decides whether an account's deliveries may go to Google now (see src/forwarding/account-gate.ts). */
export interface GateFields {
  forwarding: string;
  googleStatus: string;
  throttledUntil: Date | null;
}

export type AccountRemoval = { removed: true } | { removed: false; activeDevices: number; undelivered: number };

/**
 * The accounts' rows as forwarding reads and writes them, and their removal. Removing an account takes its history
 * (assets, deliveries, revoked devices) with it, in one transaction.
 */
export class AccountLedger {
  constructor(private readonly db: Db) {}

  /** The account's forwarding switch, Google link and throttle; null when it is gone. */
  async gateFields(id: string): Promise<GateFields | null> {
    return this.db.account.findUnique({ where: { id }, select: { forwarding: true, googleStatus: true, throttledUntil: true } });
  }

  /** Hold the account's Google requests until `until` (Google asked to slow down); a later hold already set stands. */
  async throttle(id: string, until: Date): Promise<void> {
    await this.db.$executeRaw`
      UPDATE accounts SET throttled_until = GREATEST(COALESCE(throttled_until, ${until}), ${until}) WHERE id = ${id}::uuid`;
  }

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
