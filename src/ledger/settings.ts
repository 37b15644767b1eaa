import type { Db } from '../db/client.ts';

/** Installation facts kept in the ledger (relay_settings), by key. */
export class SettingsLedger {
  constructor(private readonly db: Db) {}

  async get(key: string): Promise<string | null> {
    const row = await this.db.relaySetting.findUnique({ where: { key } });
    return row?.value ?? null;
  }

  /** Set `key` unless it is set already; returns the value that holds (ours, or the one another process wrote first). */
  async setOnce(key: string, value: string): Promise<string> {
    await this.db.$executeRaw`INSERT INTO relay_settings (key, value) VALUES (${key}, ${value}) ON CONFLICT (key) DO NOTHING`;
    return (await this.get(key))!;
  }

  async replace(key: string, value: string): Promise<void> {
    await this.db.$executeRaw`
      INSERT INTO relay_settings (key, value) VALUES (${key}, ${value}) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`;
  }
}
