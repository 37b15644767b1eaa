import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ApiError } from './errors.ts';

// One warning per this interval while Redis stays away: every request would log one otherwise.
const WARN_EVERY_MS = 60_000;

/**
 * Counts failed attempts per client (bad pairing codes, bad tokens) in Redis, shared by every API process,
 * and refuses further failing attempts once a client used up its allowance for the window. Successes cost nothing,
 * so a household pairing its phones never meets the limit; a guesser meets it after a handful of tries.
 *
 * The limiter protects; it is never the reason a request fails: when Redis cannot answer, it lets attempts through
 * (fails open) and says so in the log, since uploads need only Postgres and the disk.
 */
export class FailureLimiter {
  private lastWarning = 0;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly max: number,
    private readonly windowSeconds: number,
    private readonly log?: Logger,
  ) {}

  private key(client: string): string {
    return `${this.prefix}:${client}`;
  }

  private redisFailed(err: unknown): void {
    const now = Date.now();
    if (now - this.lastWarning < WARN_EVERY_MS) return;
    this.lastWarning = now;
    this.log?.warn({ err, limiter: this.prefix }, 'failure limiter cannot reach Redis: attempts are not limited until it is back');
  }

  private refuse(ttl: number): ApiError {
    return new ApiError('rate_limited', `Too many failed attempts; retry in ${Math.max(ttl, 1)} seconds`);
  }

  /** Refuse a client that used up its allowance. */
  async check(client: string): Promise<void> {
    let count: string | null;
    let ttl: number;
    try {
      [count, ttl] = await Promise.all([this.redis.get(this.key(client)), this.redis.ttl(this.key(client))]);
    } catch (err) {
      this.redisFailed(err);
      return;
    }
    if (Number(count ?? 0) >= this.max) throw this.refuse(ttl);
  }

  /** Count one failure; returns the client's failures in the window so far (0 when Redis cannot say). */
  async fail(client: string): Promise<{ count: number; ttl: number }> {
    const key = this.key(client);
    try {
      const results = await this.redis.multi().incr(key).expire(key, this.windowSeconds, 'NX').ttl(key).exec();
      const [incr, , ttl] = results ?? [];
      return { count: Number(incr?.[1] ?? 0), ttl: Number(ttl?.[1] ?? this.windowSeconds) };
    } catch (err) {
      this.redisFailed(err);
      return { count: 0, ttl: 0 };
    }
  }

  /**
   * For short secrets (pairing codes, OAuth states): a client over its allowance is refused before `attempt` runs,
   * so guessing stops even for the guess that would have been right. An ApiError of one of `failureCodes` counts.
   */
  async guard<T>(client: string, failureCodes: string[], attempt: () => Promise<T>): Promise<T> {
    await this.check(client);
    try {
      return await attempt();
    } catch (err) {
      if (err instanceof ApiError && failureCodes.includes(err.code)) await this.fail(client);
      throw err;
    }
  }

  /**
   * For tokens too long to guess (device and admin tokens): `attempt` runs first and a token that validates is
   * always accepted, so a household behind one address is never locked out by a neighbour's (or an attacker's)
   * wrong guesses. Only a failing attempt is counted, and once the client is over its allowance it gets 429
   * instead of its 401.
   */
  async verifyFirst<T>(client: string, failureCodes: string[], attempt: () => Promise<T>): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      if (err instanceof ApiError && failureCodes.includes(err.code)) {
        const { count, ttl } = await this.fail(client);
        if (count > this.max) throw this.refuse(ttl);
      }
      throw err;
    }
  }
}
