import { Writable } from 'node:stream';
import { createLogger } from '../../src/ops/logger.ts';
import { startRelay, type RelayOptions, type TestRelay } from './harness.ts';

/** A pino destination that keeps every line, parsed: what the relay logged is part of what a test asserts. */
export class LogCapture {
  readonly raw: string[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      this.raw.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });

  get entries(): Record<string, any>[] {
    return this.raw.map((line) => JSON.parse(line) as Record<string, any>);
  }

  withMessage(pattern: RegExp): Record<string, any>[] {
    return this.entries.filter((e) => typeof e.msg === 'string' && pattern.test(e.msg));
  }
}

/**
 * startRelay (test/helpers/harness.ts) with its log captured at `level`, and optionally a different database URL
 * for the relay than the one its database was created and migrated through (e.g. a proxy a test can cut).
 */
export async function startLoggedRelay(
  env: Record<string, string> = {},
  options: { level?: string; databaseUrl?: RelayOptions['databaseUrl'] } = {},
): Promise<TestRelay & { log: LogCapture }> {
  const log = new LogCapture();
  const relay = await startRelay(env, {
    logger: createLogger(options.level ?? 'info', log.stream),
    ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}),
  });
  return Object.assign(relay, { log });
}
