import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { AddressInfo } from 'node:net';
import { resolveConfig, type ConfigPatch } from './config.ts';
import { canonicalOf, googleErrorBody, sendGoogleError } from './errors.ts';
import { RequestContexts } from './request-context.ts';
import { albumRoutes } from './routes/albums.ts';
import { controlRoutes } from './routes/control.ts';
import { identityRoute } from './routes/identity.ts';
import { mediaItemRoutes } from './routes/media-items.ts';
import { oauthRoutes } from './routes/oauth.ts';
import { productPages } from './routes/product-pages.ts';
import { uploadRoutes } from './routes/uploads.ts';
import { EmulatorState } from './state.ts';

export interface EmulatorOptions extends ConfigPatch {
  logger?: FastifyServerOptions['logger'];
  /** Answer GET /emulator/identity with a MAC under this key (the relay's demo mode), so its owner can recognise it. */
  identityKey?: Buffer;
}

export interface RunningEmulator {
  url: string;
  app: FastifyInstance;
  /** Direct access to the in-memory state, for in-process tests that want more than the control API. */
  state: EmulatorState;
  close(): Promise<void>;
}

const states = new WeakMap<FastifyInstance, EmulatorState>();

/** The state behind an emulator built by buildEmulator. */
export function emulatorState(app: FastifyInstance): EmulatorState {
  const state = states.get(app);
  if (!state) throw new Error('not an emulator instance');
  return state;
}

/** One self-contained emulator (its own state, clock, faults, stats); build as many as tests need. */
export async function buildEmulator(options: EmulatorOptions = {}): Promise<FastifyInstance> {
  const { logger = false, identityKey, ...patch } = options;
  const state = new EmulatorState(resolveConfig(patch));
  const contexts = new RequestContexts(state);
  const app = Fastify({
    logger,
    // Control bodies must fail loudly on a typo rather than have unknown fields stripped or values coerced.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    forceCloseConnections: true,
  });
  states.set(app, state);

  app.addHook('onSend', async (req, _reply, payload) => {
    const ctx = contexts.get(req);
    if (ctx?.dropResponse) {
      ctx.outcome = 'dropped';
      ctx.socket.destroy();
    }
    return payload;
  });
  app.setNotFoundHandler((req, reply) => sendGoogleError(reply, 404, `The requested URL ${req.url.split('?')[0]} was not found on this server.`));
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) req.log.error(err);
    const message = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError ? `Invalid JSON payload received. ${err.message}` : err.message;
    return reply.code(status).send(googleErrorBody(status, status >= 500 ? 'Internal error encountered.' : message, canonicalOf(status)));
  });

  await app.register(oauthRoutes(state, contexts));
  await app.register(uploadRoutes(state, contexts));
  await app.register(mediaItemRoutes(state, contexts));
  await app.register(albumRoutes(state, contexts));
  await app.register(controlRoutes(state));
  if (identityKey) await app.register(identityRoute(identityKey));
  await app.register(productPages(state));
  return app;
}

export async function startEmulator(options: EmulatorOptions & { port?: number; host?: string } = {}): Promise<RunningEmulator> {
  const { port = 0, host = '127.0.0.1', ...rest } = options;
  const app = await buildEmulator(rest);
  await app.listen({ port, host });
  const { port: bound } = app.server.address() as AddressInfo;
  const reachable = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return { url: `http://${reachable}:${bound}`, app, state: emulatorState(app), close: () => app.close() };
}
