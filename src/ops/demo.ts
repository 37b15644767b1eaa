import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';

/**
 * Demo mode's stand-in for Google: the bundled emulator on 127.0.0.1. When another process of this relay
 * (say, the API while this is the worker) already runs it, that one serves both.
 */
export async function startDemoEmulator(config: Config, log: Logger): Promise<{ close(): Promise<void> } | null> {
  const { startEmulator } = await import('../emulator/server.ts');
  try {
    const emulator = await startEmulator({ port: config.demoEmulatorPort, host: '127.0.0.1' });
    log.warn(
      { emulator: emulator.url, libraries: `${emulator.url}/emulator/libraries/<email>/items` },
      'DEMO MODE: the bundled Google Photos emulator stands in for Google; its libraries live in memory',
    );
    return { close: () => emulator.close() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return null;
    throw err;
  }
}
