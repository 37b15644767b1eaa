import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { device, requireDevice } from '../http/auth.ts';
import { ApiError } from '../http/errors.ts';
import { pageOf, toPage } from '../http/pagination.ts';
import { ClientDate, errorResponses, IdParams, Page, PageQuery, Sha256 } from '../http/schemas.ts';
import { isId } from '../db/ids.ts';
import { checkAssetMeta } from '../ingest/asset-meta.ts';
import { checkDate } from '../validation/dates.ts';
import { missingHashes, registerByHash } from '../ingest/register.ts';
import type { Services } from '../services.ts';
import { findAsset, findAssets } from './asset-view.ts';
import { AssetCreatedSchema, AssetSchema, AssetState, toCreated } from './schemas.ts';

const CheckBody = Type.Object({ sha256: Type.Array(Sha256, { minItems: 1, maxItems: 1000 }) }, { additionalProperties: false });
const ByHashBody = Type.Object({
  sha256: Sha256,
  deviceAssetId: Type.String({ minLength: 1, maxLength: 255 }),
  fileName: Type.String({ minLength: 1, maxLength: 255 }),
  fileCreatedAt: Type.Optional(ClientDate),
});
const ListQuery = Type.Composite([PageQuery, Type.Object({ state: Type.Optional(AssetState), since: Type.Optional(ClientDate) })]);

export default async function assetRoutes(app: FastifyInstance, { services }: { services: Services }) {
  const { db } = services;
  app.addHook('onRequest', requireDevice(services));

  app.post<{ Body: typeof CheckBody.static }>(
    '/assets/check',
    {
      schema: {
        summary: 'Which of these hashes must the device upload?',
        tags: ['device'],
        body: CheckBody,
        response: { 200: Type.Object({ missing: Type.Array(Type.String()) }), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => ({
      missing: await missingHashes(
        services,
        device(request).accountId,
        request.body.sha256.map((h) => h.toLowerCase()),
      ),
    }),
  );

  app.post<{ Body: typeof ByHashBody.static }>(
    '/assets/by-hash',
    {
      schema: {
        summary: 'Register an asset whose bytes the relay already holds, without sending them',
        tags: ['device'],
        body: ByHashBody,
        response: { 200: AssetCreatedSchema, 201: AssetCreatedSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { sha256, ...fields } = request.body;
      const meta = checkAssetMeta(fields);
      const registered = await registerByHash(services, device(request), sha256.toLowerCase(), meta);
      if (!registered) throw new ApiError('not_found', 'The relay holds no such content: upload the bytes');
      const asset = await findAsset(db, registered.assetId);
      return reply.code(registered.duplicate ? 200 : 201).send(toCreated(asset!, registered.duplicate));
    },
  );

  app.get<{ Params: typeof IdParams.static }>(
    '/assets/:id',
    {
      schema: {
        summary: "One of this device's assets",
        tags: ['device'],
        params: IdParams,
        response: { 200: AssetSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const asset = isId(id) ? await findAsset(db, id, device(request).id) : null;
      if (!asset) throw new ApiError('not_found', 'No such asset on this device');
      return asset;
    },
  );

  app.get<{ Querystring: typeof ListQuery.static }>(
    '/assets',
    {
      schema: {
        summary: "This device's assets, filtered by state and by the time they reached it",
        tags: ['device'],
        querystring: ListQuery,
        response: { 200: Page(AssetSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { state } = request.query;
      const since = checkDate(request.query.since, 'since');
      const page = pageOf(request.query);
      const rows = await findAssets(db, { deviceId: device(request).id, ...(state ? { state } : {}), ...(since ? { since } : {}) }, page);
      return toPage(rows, page.size);
    },
  );
}
