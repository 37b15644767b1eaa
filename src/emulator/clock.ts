/**
 * The emulator's notion of "now". Kept as an offset from real time so that, once a test sets it,
 * time keeps flowing (timeouts and expiries still behave like a running server).
 */
export class Clock {
  #offsetMs = 0;

  now(): number {
    return Date.now() + this.#offsetMs;
  }

  set(epochMs: number): void {
    this.#offsetMs = epochMs - Date.now();
  }

  advance(ms: number): void {
    this.#offsetMs += ms;
  }

  reset(): void {
    this.#offsetMs = 0;
  }
}
