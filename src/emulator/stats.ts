/** Requests of one kind in flight per account, and the most seen at once (since the last reset). */
class InFlight {
  readonly #now = new Map<string, number>();
  #peaks: Record<string, number> = {};

  /** Marks one in flight for `email`; answers how many were before it, and the release (harmless twice). */
  start(email: string): { before: number; release: () => void } {
    const before = this.#now.get(email) ?? 0;
    this.#now.set(email, before + 1);
    this.#peaks[email] = Math.max(this.#peaks[email] ?? 0, before + 1);
    let released = false;
    return {
      before,
      release: () => {
        if (released) return;
        released = true;
        this.#now.set(email, (this.#now.get(email) ?? 1) - 1);
      },
    };
  }

  current(): Record<string, number> {
    return Object.fromEntries([...this.#now].filter(([, n]) => n > 0));
  }

  peaks(): Record<string, number> {
    return { ...this.#peaks };
  }

  /** Peaks start again from what is in flight now. */
  resetPeaks(): void {
    this.#peaks = this.current();
  }
}

/** Counters the tests and benchmarks assert on; nothing here influences behaviour. */
export class Stats {
  readonly requests: Record<string, Record<string, number>> = {};
  bytesReceived = 0;
  readonly resumable = { sessions: 0, chunks: 0, queries: 0 };
  readonly #batchCreates = new InFlight();
  readonly #calls: Record<string, number> = {};
  #overlaps = 0;
  readonly #uploads = new InFlight();

  /** Marks a raw upload for `email` as in flight (until the returned release), refused ones included. */
  uploadStarted(email: string): () => void {
    return this.#uploads.start(email).release;
  }

  uploadSnapshot() {
    return { peakPerUser: this.#uploads.peaks(), inFlight: this.#uploads.current() };
  }

  /** Upload peaks start again from what is in flight now: a test measures one phase at a time. */
  resetUploadPeaks(): void {
    this.#uploads.resetPeaks();
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
    const { before, release } = this.#batchCreates.start(email);
    this.#calls[email] = (this.#calls[email] ?? 0) + 1;
    if (before > 0) this.#overlaps++;
    return { overlapped: before > 0, release };
  }

  batchCreateSnapshot() {
    return {
      maxConcurrentPerUser: this.#batchCreates.peaks(),
      overlaps: this.#overlaps,
      calls: { ...this.#calls },
      inFlight: this.#batchCreates.current(),
    };
  }
}
