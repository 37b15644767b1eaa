import type { Redis } from 'ioredis';
import { ApiError } from './errors.ts';

/**
 * Counts failed attempts per client (bad pairing codes, bad tokens) in Redis, shared by every API process,
 * and refuses further attempts once a client used up its allowance for the window. Successes cost nothing,
 * so a household pairing its phones never meets the limit; a guesser meets it after a handful of tries.
 */
export class FailureLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly max: number,
    private readonly windowSeconds: number,
  ) {}

  private key(client: string): string {
    return `${this.prefix}:${client}`;
  }

  async check(client: string): Promise<void> {
    const [count, ttl] = await Promise.all([this.redis.get(this.key(client)), this.redis.ttl(this.key(client))]);
    if (Number(count ?? 0) >= this.max) {
      throw new ApiError('rate_limited', `Too many failed attempts; retry in ${Math.max(ttl, 1)} seconds`);
    }
  }

  async fail(client: string): Promise<void> {
    const key = this.key(client);
    await this.redis.multi().incr(key).expire(key, this.windowSeconds, 'NX').exec();
  }

  /** Run `attempt`; an ApiError of one of `failureCodes` counts against the client. */
  async guard<T>(client: string, failureCodes: string[], attempt: () => Promise<T>): Promise<T> {
    await this.check(client);
    try {
      return await attempt();
    } catch (err) {
      if (err instanceof ApiError && failureCodes.includes(err.code)) await this.fail(client);
      throw err;
    }
  }
}
