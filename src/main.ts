import closeWithGrace from 'close-with-grace';
import { ConfigError, loadConfig } from './config/config.ts';
import { fillDemoSecrets } from './config/demo-secrets.ts';
import { migrate } from './db/migrate.ts';
import { createLogger } from './ops/logger.ts';
import { closeServices, createServices } from './services.ts';
import { startDemoEmulator } from './ops/demo.ts';
import { demoLinkAll } from './google/demo-link.ts';
import { guardGoogleClient } from './google/client-guard.ts';
import { exitOnRefusal } from './ops/start-refused.ts';

type Role = 'all' | 'api' | 'worker';

function parseRole(argv: string[]): Role {
  const i = argv.indexOf('--role');
  const role = i >= 0 ? argv[i + 1] : 'all';
  if (role !== 'all' && role !== 'api' && role !== 'worker') {
    console.error(`--role must be api, worker or all (got "${role}")`);
    process.exit(2);
  }
  return role;
}

async function main() {
  const role = parseRole(process.argv.slice(2));
  let loaded;
  try {
    loaded = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(loaded.logLevel);
  const applied = await migrate(loaded.databaseUrl);
  if (applied.length) log.info({ applied }, 'applied database migrations');
  const { config, adminTokenFile } = await fillDemoSecrets(loaded);
  if (config.demoMode) {
    log.warn(
      { adminTokenFile },
      'DEMO MODE: no GOOGLE_CLIENT_ID is configured, so photos are NOT sent to Google Photos. Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET to back up for real.',
    );
  }
  // A spool that is not this ledger's refuses the start (StartRefused, handled by exitOnRefusal below).
  const services = await createServices(config, log);
  const stops: Array<() => Promise<void> | void> = [];
  await guardGoogleClient(services);
  if (config.demoMode) {
    const emulator = await startDemoEmulator(config, log);
    if (emulator) {
      await demoLinkAll(services);
      stops.push(() => emulator.close());
    }
  }
  // Stops run in reverse order of start: the emulator, started first, stops last.

  let beginShutdown = () => {};
  if (role !== 'worker') {
    // Each role loads only its own side: a worker never pays for the HTTP app's modules, nor the API for the workers'.
    const { buildApp } = await import('./app.ts');
    const { startSweeper } = await import('./ingest/sweeper.ts');
    const handle = await buildApp(services);
    beginShutdown = handle.beginShutdown;
    stops.push(() => handle.app.close());
    stops.push(await startSweeper(services));
    await handle.app.listen({ host: config.host, port: config.port });
  }
  if (role !== 'api') {
    const { startForwardWorker } = await import('./forwarding/worker.ts');
    const worker = await startForwardWorker(services);
    stops.push(() => worker.close());
  }
  log.info({ role, port: config.port, publicUrl: config.publicUrl, demoMode: config.demoMode }, 'photo relay started');

  // Order matters: stop taking requests (in-flight uploads finish), then workers, then queues and the database.
  closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'fatal error, shutting down');
    else log.info({ signal }, 'shutting down');
    beginShutdown();
    for (const stop of stops.reverse()) await stop();
    await closeServices(services);
  });
}

await main().catch(exitOnRefusal);
