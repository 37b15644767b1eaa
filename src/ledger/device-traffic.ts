import type pg from 'pg';
import type { Clock } from './tx.ts';

/**
 * The bytes each device has sent, counted once its content is registered. Not in the registration's transaction:
 * there every upload of a device updated the device's row and held its lock until COMMIT, through the folder's fsync,
 * so a phone's parallel uploads queued on one row (bench c: 15–25% of the relay's uploads/s). Counted here instead,
 * group-commit style: the counts of the uploads finishing meanwhile go in one statement, one at a time, and each
 * upload's answer waits for the statement that carries its count, so a client reading its device right after sees
 * it. A crash between the two commits loses that upload's count: a statistic, not ledger state.
 */
export class DeviceTraffic {
  private pending = new Map<string, number>();
  /** The write that will carry what is pending now; it starts once the write in flight ended. */
  private next: Promise<void> | null = null;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly pool: pg.Pool,
    private readonly clock: Clock,
    private readonly onError: (err: unknown) => void,
  ) {}

  /** Count bytes a device sent; resolves once they are recorded (or the write failed, which onError hears). */
  received(deviceId: string, bytes: number): Promise<void> {
    this.pending.set(deviceId, (this.pending.get(deviceId) ?? 0) + bytes);
    this.next ??= this.inFlight.then(() => {
      const batch = this.pending;
      this.pending = new Map();
      this.next = null;
      this.inFlight = this.write(batch);
      return this.inFlight;
    });
    return this.next;
  }

  private async write(batch: Map<string, number>): Promise<void> {
    try {
      await this.pool.query({
        name: 'device-traffic',
        text: `UPDATE devices d SET bytes_received = d.bytes_received + t.bytes, last_seen_at = greatest(d.last_seen_at, $3::timestamptz)
          FROM unnest($1::uuid[], $2::bigint[]) AS t(id, bytes) WHERE d.id = t.id`,
        values: [[...batch.keys()], [...batch.values()], this.clock()],
      });
    } catch (err) {
      this.onError(err);
    }
  }
}
