import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { closeServices, createServices } from '../../src/services.ts';
import { isolate, type TestRelay } from './harness.ts';

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
  options: { level?: string; databaseUrl?: (direct: string) => Promise<string> | string } = {},
): Promise<TestRelay & { log: LogCapture }> {
  const iso = await isolate(env);
  const databaseUrl = options.databaseUrl ? await options.databaseUrl(iso.databaseUrl) : iso.databaseUrl;
  const config = loadConfig({ ...iso.env, DATABASE_URL: databaseUrl });
  const log = new LogCapture();
  const services = await createServices(config, createLogger(options.level ?? 'info', log.stream));
  const handle = await buildApp(services);
  await handle.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = handle.app.server.address() as AddressInfo;
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    services,
    handle,
    iso,
    log,
    async close() {
      if (closed) return;
      closed = true;
      await handle.app.close();
      await closeServices(services);
      await iso.drop();
    },
  };
}
