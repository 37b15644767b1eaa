import type pg from 'pg';
import type { Db } from '../db/client.ts';
import { AccountLedger } from './accounts.ts';
import { AssetLedger } from './assets.ts';
import { BlobLedger } from './blobs.ts';
import { withContentLock } from './content-lock.ts';
import { DeliveryLedger } from './deliveries.ts';
import { DeviceTraffic } from './device-traffic.ts';
import { RegistrationLedger } from './registration.ts';
import { SettingsLedger } from './settings.ts';
import type { Clock, Tx } from './tx.ts';

/**
 * The only code that writes ledger state (blobs, assets, deliveries, installation settings, devices' byte counts).
 * Routes, workers and the intake call it; none of them writes those tables. One clock stamps every change.
 */
export class Ledger {
  readonly deliveries: DeliveryLedger;
  readonly blobs: BlobLedger;
  readonly assets: AssetLedger;
  readonly registrations: RegistrationLedger;
  readonly settings: SettingsLedger;
  readonly accounts: AccountLedger;
  readonly traffic: DeviceTraffic;

  constructor(
    readonly db: Db,
    readonly clock: Clock,
    /** The pool under `db`, for the hot paths: registration, and the statements of each upload to Google. */
    readonly pool: pg.Pool,
    onTrafficError: (err: unknown) => void = () => {},
  ) {
    this.deliveries = new DeliveryLedger(db, clock, pool);
    this.blobs = new BlobLedger(db, clock);
    this.assets = new AssetLedger(db);
    this.registrations = new RegistrationLedger(pool, clock);
    this.settings = new SettingsLedger(db);
    this.accounts = new AccountLedger(db);
    this.traffic = new DeviceTraffic(pool, clock, onTrafficError);
  }

  /** A transaction holding the content lock of `sha256`: the frame of every change to that content. */
  withContent<T>(sha256: string, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return withContentLock(this.db, sha256, fn);
  }
}
