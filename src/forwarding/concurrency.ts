/**
 * How many uploads to Google one account may have in flight from this process: additive increase, multiplicative
 * decrease (TCP's congestion window, applied to requests). Google publishes no per-user concurrency limit; it
 * answers 429 (rate limited) or 5xx when pushed, and takes longer to answer before that. So the window grows while
 * Google answers promptly and the window is in use, halves on a 429 or a 5xx, and never drops below one.
 *
 * - Slow start: below the threshold set by the last cut, each prompt answer adds one slot (the window doubles
 *   per round trip); above it, each adds 1/limit (one slot per window's worth of answers).
 * - Prompt: an answer no slower than twice the fastest of the recent ones. A slower answer holds the window (the
 *   service is queueing our requests: more would only wait longer), a congested one cuts it.
 * - Once per window: the requests already in flight when the window was cut were sent under the old limit; their
 *   429s are the same congestion event and do not cut again (TCP's fast recovery does the same).
 *
 * Retry-After is not the window's business: the account gate holds every upload of the account until it passes.
 */
export interface WindowOptions {
  /** The ceiling (FORWARD_MAX_CONCURRENCY). */
  max: number;
  /** Where a fresh window starts: the fixed concurrency the relay used before it adapted. */
  initial: number;
  /** Off: a fixed window of `max` (FORWARD_ADAPTIVE_CONCURRENCY=false). */
  adaptive: boolean;
}

export type Outcome = 'ok' | 'congested' | 'other';

const RECENT = 32;
/** Jobs admitted per slot (in flight, in line, or getting ready to send): enough that a freed slot is taken at once. */
const LINE_FACTOR = 2;
/** An answer within this factor of the fastest recent one counts as prompt. */
const PROMPT_FACTOR = 2;

export class ConcurrencyWindow {
  private limitValue: number;
  private threshold = Infinity;
  private inFlight = 0;
  private serial = 0;
  private cutAtSerial = 0;
  /** The serial of the last slot that filled the window. */
  private fullAtSerial = 0;
  private readonly waiters: (() => void)[] = [];
  /** Admitted jobs not yet holding a slot or in line for one (reading the ledger, checking the blob). */
  private preparing = 0;
  private readonly latencies: number[] = [];

  constructor(
    private readonly options: WindowOptions,
    /** Called when the whole-slot limit changes. */
    private readonly onResize: () => void = () => {},
  ) {
    this.limitValue = ConcurrencyWindow.firstLimit(options);
  }

  /** Where a window with these options starts. */
  static firstLimit(options: WindowOptions): number {
    return options.adaptive ? Math.min(options.max, Math.max(1, options.initial)) : options.max;
  }

  /** Jobs the window serves at most (in flight, in line, getting ready). */
  get admissible(): number {
    return this.limit * LINE_FACTOR;
  }

  /** Slots in the window now (whole). */
  get limit(): number {
    return Math.max(1, Math.floor(this.limitValue));
  }

  get active(): number {
    return this.inFlight;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /**
   * A place among the jobs this window serves, or null when it already serves LINE_FACTOR × its limit: such a job is
   * better back in the queue than holding a worker's place another account's upload could use. The ticket's slot is
   * taken just before the request to Google, so reading the ledger and the blob overlaps other jobs' uploads.
   */
  admit(): Ticket | null {
    if (this.inFlight + this.waiters.length + this.preparing >= this.admissible) return null;
    this.preparing++;
    let left = false;
    const leave = () => {
      if (left) return false;
      left = true;
      this.preparing--;
      return true;
    };
    return {
      acquire: () => {
        leave();
        return this.acquire();
      },
      leave: () => void leave(),
    };
  }

  /** A slot now, or null when the window is full. */
  tryAcquire(): Slot | null {
    if (this.inFlight >= this.limit) return null;
    return this.issue();
  }

  /** A slot, waiting in line for one when the window is full. */
  acquire(): Promise<Slot> {
    const slot = this.tryAcquire();
    if (slot) return Promise.resolve(slot);
    return new Promise((resolve) => this.waiters.push(() => resolve(this.issue())));
  }

  private issue(): Slot {
    this.inFlight++;
    const started = performance.now();
    const serial = ++this.serial;
    if (this.inFlight >= this.limit) this.fullAtSerial = serial;
    let done = false;
    return {
      release: (outcome: Outcome, elapsedMs = performance.now() - started) => {
        if (done) return;
        done = true;
        // Whether every slot was taken at some moment while this one was out: growing an unused window proves nothing.
        const full = this.fullAtSerial >= serial;
        this.inFlight--;
        this.learn(outcome, elapsedMs, serial, full);
        this.wake();
      },
    };
  }

  private learn(outcome: Outcome, elapsedMs: number, serial: number, full: boolean): void {
    if (!this.options.adaptive || outcome === 'other') return;
    const before = this.limit;
    this.adjust(outcome, elapsedMs, serial, full);
    if (this.limit !== before) this.onResize();
  }

  private adjust(outcome: Outcome, elapsedMs: number, serial: number, full: boolean): void {
    if (outcome === 'congested') {
      if (serial <= this.cutAtSerial) return; // sent before the last cut: the same congestion event
      this.limitValue = Math.max(1, Math.floor(this.limitValue / 2));
      this.threshold = this.limitValue;
      this.cutAtSerial = this.serial;
      return;
    }
    this.latencies.push(elapsedMs);
    if (this.latencies.length > RECENT) this.latencies.shift();
    const fastest = Math.min(...this.latencies);
    if (elapsedMs > fastest * PROMPT_FACTOR || !full) return; // slow: hold
    const step = this.limitValue < this.threshold ? 1 : 1 / this.limitValue;
    this.limitValue = Math.min(this.options.max, this.limitValue + step);
  }

  private wake(): void {
    while (this.waiters.length > 0 && this.inFlight < this.limit) this.waiters.shift()!();
  }
}

export interface Ticket {
  /** Wait for a slot (the place in line becomes the slot). */
  acquire(): Promise<Slot>;
  /** Give up the place without sending (nothing to send, the job ended); harmless after acquire. */
  leave(): void;
}

export interface Slot {
  /** Give the slot back, saying how Google answered; `elapsedMs` defaults to the time since the slot was taken. */
  release(outcome: Outcome, elapsedMs?: number): void;
}

/** One window per account, for this process. */
export class AccountWindows {
  private readonly windows = new Map<string, ConcurrencyWindow>();
  private readonly listeners: (() => void)[] = [];
  constructor(readonly options: WindowOptions) {}

  of(accountId: string): ConcurrencyWindow {
    let window = this.windows.get(accountId);
    if (!window) {
      window = new ConcurrencyWindow(this.options, () => this.resized());
      this.windows.set(accountId, window);
      this.resized();
    }
    return window;
  }

  /**
   * Jobs worth taking from the queue at once: what every account's window serves. The worker takes that many, so a
   * job seldom has to step back (a trip through Redis each time); before any account is seen, what a new window serves.
   */
  admissible(): number {
    let sum = 0;
    for (const window of this.windows.values()) sum += window.admissible;
    return Math.max(sum, ConcurrencyWindow.firstLimit(this.options) * LINE_FACTOR);
  }

  /** Follow changes of admissible(). */
  onResize(listener: () => void): void {
    this.listeners.push(listener);
  }

  private resized(): void {
    for (const listener of this.listeners) listener();
  }

  /** Limits of the accounts seen, for metrics and logs. */
  limits(): Map<string, number> {
    return new Map([...this.windows].map(([id, w]) => [id, w.limit]));
  }
}
