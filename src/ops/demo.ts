import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/config.ts';
import { readOrCreateSecret } from '../config/demo-secrets.ts';
import { identityProof } from '../emulator/routes/identity.ts';
import { StartRefused } from './start-refused.ts';

/**
 * Demo mode's stand-in for Google: the bundled emulator on 127.0.0.1. When another process of this relay (say, the
 * API while this is the worker) already runs it, that one serves both — but only once it proved it is ours, with a
 * key both processes read from DATA_DIR/secrets: refresh tokens go to whatever listens on that port.
 */
export async function startDemoEmulator(config: Config, log: Logger): Promise<{ close(): Promise<void> } | null> {
  const { startEmulator } = await import('../emulator/server.ts');
  const key = Buffer.from(await readOrCreateSecret(config, 'emulator-key', () => randomBytes(32).toString('base64url')), 'base64url');
  try {
    const emulator = await startEmulator({ port: config.demoEmulatorPort, host: '127.0.0.1', identityKey: key });
    log.warn(
      { emulator: emulator.url, libraries: `${emulator.url}/emulator/libraries/<email>/items` },
      'DEMO MODE: the bundled Google Photos emulator stands in for Google; its libraries live in memory',
    );
    return { close: () => emulator.close() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
  }
  if (await isOurEmulator(config.demoEmulatorPort, key)) {
    log.info({ port: config.demoEmulatorPort }, "DEMO MODE: another process of this relay runs the emulator; using it");
    return null;
  }
  throw new StartRefused(
    `DEMO_EMULATOR_PORT ${config.demoEmulatorPort} on 127.0.0.1 is taken by a program that is not this relay's emulator. Demo mode would send it tokens: stop that program, or set DEMO_EMULATOR_PORT to a free port.`,
  );
}

async function isOurEmulator(port: number, key: Buffer): Promise<boolean> {
  const nonce = randomBytes(24).toString('base64url');
  try {
    const res = await fetch(`http://127.0.0.1:${port}/emulator/identity?nonce=${nonce}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) return false;
    const { proof } = (await res.json()) as { proof?: unknown };
    const expected = Buffer.from(identityProof(key, nonce));
    return typeof proof === 'string' && proof.length === expected.length && timingSafeEqual(Buffer.from(proof), expected);
  } catch {
    return false;
  }
}
