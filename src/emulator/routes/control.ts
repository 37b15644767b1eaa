import { Type, type Static } from '@sinclair/typebox';
import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { ConfigPatchSchema, type ConfigPatch } from '../config.ts';
import { FaultRuleSchema } from '../faults.ts';
import { typeboxValidator } from '../schema-validator.ts';
import { normalizeScope } from '../scopes.ts';
import type { EmulatorState } from '../state.ts';

const strict = { additionalProperties: false } as const;
const EmailParams = Type.Object({ email: Type.String() });
type EmailParams = Static<typeof EmailParams>;
const FaultsBody = Type.Object({ rules: Type.Array(FaultRuleSchema) }, strict);
const ClockBody = Type.Union([Type.Object({ now: Type.String() }, strict), Type.Object({ advanceMs: Type.Integer() }, strict)]);
const ConsentBody = Type.Object(
  {
    email: Type.Optional(Type.Union([Type.String({ pattern: '@' }), Type.Null()])),
    deny: Type.Optional(Type.Boolean()),
    grantScopes: Type.Optional(Type.Array(Type.String())),
  },
  strict,
);

/** /emulator/*: no auth, for tests, benchmarks and the demo. Never part of what a Google client may call. */
export function controlRoutes(state: EmulatorState): FastifyPluginAsync {
  return async (app) => {
    app.setValidatorCompiler(typeboxValidator);
    app.setErrorHandler((err: FastifyError, _req, reply) => reply.code(err.statusCode ?? 500).send({ error: err.message }));

    app.post<{ Body: Static<typeof FaultsBody> }>('/emulator/faults', { schema: { body: FaultsBody } }, async (req) => {
      state.faults.add(req.body.rules);
      return { rules: state.faults.list() };
    });
    app.get('/emulator/faults', async () => ({ rules: state.faults.list() }));
    app.delete('/emulator/faults', async () => {
      state.faults.clear();
      return {};
    });

    app.get('/emulator/config', async () => state.config);
    app.patch<{ Body: ConfigPatch }>('/emulator/config', { schema: { body: ConfigPatchSchema } }, async (req) => state.patchConfig(req.body));

    app.get('/emulator/clock', async () => ({ now: new Date(state.clock.now()).toISOString() }));
    app.post<{ Body: Static<typeof ClockBody> }>('/emulator/clock', { schema: { body: ClockBody } }, async (req, reply) => {
      if ('now' in req.body) {
        const at = Date.parse(req.body.now);
        if (Number.isNaN(at)) return reply.code(400).send({ error: `not an ISO date: ${req.body.now}` });
        state.clock.set(at);
      } else {
        state.clock.advance(req.body.advanceMs);
      }
      return { now: new Date(state.clock.now()).toISOString() };
    });

    app.post<{ Body: Static<typeof ConsentBody> }>('/emulator/consent', { schema: { body: ConsentBody } }, async (req) => {
      const { email, deny, grantScopes } = req.body;
      if (email !== undefined) state.consent.email = email;
      state.consent.deny = deny ?? false;
      state.consent.grantScopes = grantScopes ? grantScopes.map(normalizeScope) : null;
      return { ...state.consent };
    });

    app.get<{ Params: EmailParams }>('/emulator/libraries/:email/items', { schema: { params: EmailParams } }, async (req) => ({
      email: req.params.email,
      items: state.libraries.itemsOf(req.params.email).map((i) => ({
        id: i.id,
        filename: i.filename,
        ...(i.description ? { description: i.description } : {}),
        sha256: i.sha256,
        size: i.size,
        mimeType: i.mimeType,
        createdAt: new Date(i.createdAt).toISOString(),
        uploadTokenUsed: i.uploadTokenUsed,
        albumIds: state.libraries.albumIdsOf(i.id),
      })),
    }));
    app.get<{ Params: EmailParams }>('/emulator/libraries/:email/albums', { schema: { params: EmailParams } }, async (req) => ({
      email: req.params.email,
      albums: state.libraries.albumsOf(req.params.email).map((a) => ({ id: a.id, title: a.title, itemIds: a.itemIds })),
    }));

    app.get('/emulator/oauth/grants', async () => ({
      grants: state.oauth.grants().map((g) => ({
        email: g.email,
        clientId: g.clientId,
        scopes: g.scopes,
        hasRefreshToken: g.refreshToken !== null,
        createdAt: new Date(g.createdAt).toISOString(),
        revoked: g.revokedAt !== null,
      })),
    }));

    app.get('/emulator/stats', async () => ({
      requests: state.stats.requests,
      bytesReceived: state.stats.bytesReceived,
      quota: state.quota.snapshot(),
      batchCreate: state.stats.batchCreateSnapshot(),
      uploads: state.stats.uploadSnapshot(),
      resumable: state.stats.resumable,
    }));

    app.delete('/emulator/stats/upload-peaks', async () => {
      state.stats.resetUploadPeaks();
      return {};
    });

    app.post('/emulator/reset', async () => {
      state.reset();
      return {};
    });
  };
}
