/**
 * Device tokens found valid in the last `ttlMs`, by token hash: lets the upload door skip the token lookup (a Postgres
 * round trip before the body is read) for a phone sending photo after photo. Only for doors whose registration checks
 * the device again in the statement that commits it (src/ledger/registration.ts): there a token revoked meanwhile is
 * refused (401) before anything is recorded, so the cache can only let a revoked phone send bytes that are then
 * dropped, for at most `ttlMs`. Failed lookups are never cached: a wrong token always meets the database (and the
 * failure limiter).
 */
export class TokenCache<T> {
  private readonly entries = new Map<string, { value: T; until: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  get(tokenHash: string): T | undefined {
    const entry = this.entries.get(tokenHash);
    if (!entry) return undefined;
    if (entry.until > this.now()) return entry.value;
    this.entries.delete(tokenHash);
    return undefined;
  }

  set(tokenHash: string, value: T): void {
    this.entries.delete(tokenHash);
    // Oldest first: Map keeps insertion order.
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(tokenHash, { value, until: this.now() + this.ttlMs });
  }
}
