/** Counters the tests and benchmarks assert on; nothing here influences behaviour. */
export class Stats {
  readonly requests: Record<string, Record<string, number>> = {};
  bytesReceived = 0;
  readonly resumable = { sessions: 0, chunks: 0, queries: 0 };
  readonly #inFlight = new Map<string, number>();
  readonly #maxConcurrent: Record<string, number> = {};
  readonly #calls: Record<string, number> = {};
  #overlaps = 0;
  readonly #uploadsInFlight = new Map<string, number>();
  #uploadPeaks: Record<string, number> = {};

  /** Marks a raw upload for `email` as in flight (until `release`), keeping the most seen at once since the last reset. */
  uploadStarted(email: string): () => void {
    const now = (this.#uploadsInFlight.get(email) ?? 0) + 1;
    this.#uploadsInFlight.set(email, now);
    this.#uploadPeaks[email] = Math.max(this.#uploadPeaks[email] ?? 0, now);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#uploadsInFlight.set(email, (this.#uploadsInFlight.get(email) ?? 1) - 1);
    };
  }

  uploadSnapshot() {
    return {
      peakPerUser: { ...this.#uploadPeaks },
      inFlight: Object.fromEntries([...this.#uploadsInFlight].filter(([, n]) => n > 0)),
    };
  }

  /** Peaks start again from what is in flight now: a test measures one phase at a time. */
  resetUploadPeaks(): void {
    this.#uploadPeaks = Object.fromEntries([...this.#uploadsInFlight].filter(([, n]) => n > 0));
  }

  count(endpoint: string, status: string): void {
    const byStatus = (this.requests[endpoint] ??= {});
    byStatus[status] = (byStatus[status] ?? 0) + 1;
  }

  /**
   * Marks a batchCreate for `email` as in flight and returns whether another one for that account already was
   * (an overlap: the relay must serialise batchCreate per account). Call the returned release exactly once.
   */
  batchCreateStarted(email: string): { overlapped: boolean; release: () => void } {
    const before = this.#inFlight.get(email) ?? 0;
    this.#inFlight.set(email, before + 1);
    this.#calls[email] = (this.#calls[email] ?? 0) + 1;
    this.#maxConcurrent[email] = Math.max(this.#maxConcurrent[email] ?? 0, before + 1);
    if (before > 0) this.#overlaps++;
    let released = false;
    return {
      overlapped: before > 0,
      release: () => {
        if (released) return;
        released = true;
        this.#inFlight.set(email, (this.#inFlight.get(email) ?? 1) - 1);
      },
    };
  }

  batchCreateSnapshot() {
    return {
      maxConcurrentPerUser: { ...this.#maxConcurrent },
      overlaps: this.#overlaps,
      calls: { ...this.#calls },
      inFlight: Object.fromEntries([...this.#inFlight].filter(([, n]) => n > 0)),
    };
  }
}
