import { startEmulator } from './server.ts';

// Standalone Google Photos emulator for the demo and manual testing: npm run emulator
const port = Number(process.env.EMULATOR_PORT ?? 8090);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`EMULATOR_PORT is not a port: ${process.env.EMULATOR_PORT}`);

const emulator = await startEmulator({ port, host: '127.0.0.1', logger: { level: process.env.LOG_LEVEL ?? 'info' } });
const { url, state } = emulator;
emulator.app.log.info(
  {
    authUrl: `${url}/o/oauth2/v2/auth`,
    tokenUrl: `${url}/token`,
    revokeUrl: `${url}/revoke`,
    photosApiBase: url,
    control: `${url}/emulator/stats`,
    clientId: state.config.clientId,
  },
  `Google Photos emulator listening on ${url}`,
);

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (closing) return;
    closing = true;
    emulator.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}
