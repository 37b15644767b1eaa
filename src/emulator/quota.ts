import type { Clock } from './clock.ts';
import type { EmulatorConfig } from './config.ts';
import { nextPacificMidnight, pacificDay } from './pacific.ts';

/** The per-project daily request budget, shared by every linked account, reset at Pacific midnight. */
export class DailyQuota {
  #day = '';
  #used = 0;

  constructor(
    private readonly clock: Clock,
    private readonly config: EmulatorConfig,
  ) {}

  /** Counts one request; false (and nothing counted) when the day's budget is spent. */
  tryConsume(): boolean {
    this.#roll();
    if (this.#used >= this.config.dailyLimit) return false;
    this.#used++;
    return true;
  }

  snapshot(): { used: number; limit: number; resetsAt: string } {
    this.#roll();
    return { used: this.#used, limit: this.config.dailyLimit, resetsAt: new Date(nextPacificMidnight(this.clock.now())).toISOString() };
  }

  // Compares calendar days rather than storing a deadline, so setting the clock backwards also lands in the right day.
  #roll(): void {
    const day = pacificDay(this.clock.now());
    if (day !== this.#day) {
      this.#day = day;
      this.#used = 0;
    }
  }
}
