import { Clock } from './clock.ts';
import { resolveConfig, type EmulatorConfig } from './config.ts';
import { FaultBook } from './faults.ts';
import { LibraryStore } from './library-store.ts';
import { OAuthStore } from './oauth-store.ts';
import { DailyQuota } from './quota.ts';
import { Stats } from './stats.ts';
import { UploadStore } from './upload-store.ts';
import { WriteRateLimiter } from './write-limits.ts';

/** Who the auto-approving consent screen signs in as. `email` sticks; `deny` and `grantScopes` apply to the next consent only. */
export interface ConsentPlan {
  email: string | null;
  deny: boolean;
  grantScopes: string[] | null;
}

/**
 * All state of one emulator instance, in memory. Routes reach every store through this object (never a captured
 * reference), so reset() can swap them all at once.
 */
export class EmulatorState {
  readonly config: EmulatorConfig;
  readonly clock = new Clock();
  oauth!: OAuthStore;
  uploads!: UploadStore;
  libraries!: LibraryStore;
  quota!: DailyQuota;
  writes!: WriteRateLimiter;
  faults!: FaultBook;
  stats!: Stats;
  consent!: ConsentPlan;

  constructor(private readonly initial: Readonly<EmulatorConfig>) {
    this.config = { ...initial };
    this.#fresh();
  }

  patchConfig(patch: unknown): EmulatorConfig {
    Object.assign(this.config, resolveConfig(patch, this.config));
    return this.config;
  }

  reset(): void {
    Object.assign(this.config, this.initial);
    this.clock.reset();
    this.#fresh();
  }

  #fresh(): void {
    this.oauth = new OAuthStore(this.clock, this.config);
    this.uploads = new UploadStore(this.clock, this.config);
    this.libraries = new LibraryStore();
    this.quota = new DailyQuota(this.clock, this.config);
    this.writes = new WriteRateLimiter(this.clock, this.config);
    this.faults = new FaultBook();
    this.stats = new Stats();
    this.consent = { email: null, deny: false, grantScopes: null };
  }
}
