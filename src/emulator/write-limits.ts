import type { Clock } from './clock.ts';
import type { EmulatorConfig } from './config.ts';

/** The unpublished per-user "write requests per minute" limit Google was observed to enforce; off unless configured. */
export class WriteRateLimiter {
  readonly #recent = new Map<string, number[]>();

  constructor(
    private readonly clock: Clock,
    private readonly config: EmulatorConfig,
  ) {}

  tryWrite(email: string): boolean {
    const limit = this.config.writeRequestsPerMinutePerUser;
    if (limit === null) return true;
    const now = this.clock.now();
    const recent = (this.#recent.get(email) ?? []).filter((t) => t > now - 60_000);
    if (recent.length >= limit) {
      this.#recent.set(email, recent);
      return false;
    }
    recent.push(now);
    this.#recent.set(email, recent);
    return true;
  }
}
