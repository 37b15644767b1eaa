/** A delivery that needs its bytes sent; `rank` is its place in its account's backlog (1 = next). */
export interface DeliveryRef {
  id: string;
  accountId: string;
  rank?: number;
}

/**
 * What the ledger's callers (routes, linking, the intake) may ask of forwarding, without importing it: Redis only
 * schedules, so every method is a hint that the reconciler would otherwise act on at its next pass. None throws on a
 * Redis outage.
 */
export interface Scheduler {
  /** Send these deliveries' bytes. */
  uploads(deliveries: DeliveryRef[]): Promise<void>;
  /** Look at an account's backlog again now (after a resume, a retry, a re-link), or at every account's. */
  account(accountId?: string): Promise<void>;
}
