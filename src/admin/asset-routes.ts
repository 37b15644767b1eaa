import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../http/errors.ts';
import { pageOf, toPage } from '../http/pagination.ts';
import { errorResponses, IdParams, Page, PageQuery } from '../http/schemas.ts';
import { isId } from '../db/ids.ts';
import { findAsset, findAssets } from '../assets/asset-view.ts';
import { AssetSchema, AssetState } from '../assets/schemas.ts';
import type { Services } from '../services.ts';

const ListQuery = Type.Composite([
  PageQuery,
  Type.Object({
    state: Type.Optional(AssetState),
    accountId: Type.Optional(Type.String({ maxLength: 100 })),
    deviceId: Type.Optional(Type.String({ maxLength: 100 })),
  }),
]);
const RetryAllBody = Type.Object({ accountId: Type.Optional(Type.String({ maxLength: 100 })) }, { additionalProperties: false });

/** Every asset of the household, and putting failed ones back in line. */
export default async function adminAssetRoutes(app: FastifyInstance, { services }: { services: Services }) {
  const { db } = services;

  /** Failed deliveries back to pending (attempts and reason kept for the record), then scheduled. */
  async function retryDeliveries(where: { deliveryIds?: string[]; accountId?: string }): Promise<number> {
    const retried = await services.ledger.deliveries.retryFailed({
      ...(where.deliveryIds ? { ids: where.deliveryIds } : {}),
      ...(where.accountId ? { accountId: where.accountId } : {}),
    });
    if (retried > 0) await services.scheduler.account(where.accountId);
    return retried;
  }

  app.get<{ Querystring: typeof ListQuery.static }>(
    '/assets',
    {
      schema: {
        summary: 'Assets of every device, filtered by state, account and device',
        tags: ['admin'],
        querystring: ListQuery,
        response: { 200: Page(AssetSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { state, accountId, deviceId } = request.query;
      const page = pageOf(request.query);
      if ((accountId && !isId(accountId)) || (deviceId && !isId(deviceId))) return { items: [], nextCursor: null };
      const rows = await findAssets(
        db,
        { ...(state ? { state } : {}), ...(accountId ? { accountId } : {}), ...(deviceId ? { deviceId } : {}) },
        page,
      );
      return toPage(rows, page.size);
    },
  );

  app.get<{ Params: typeof IdParams.static }>(
    '/assets/:id',
    { schema: { summary: 'One asset', tags: ['admin'], params: IdParams, response: { 200: AssetSchema, ...errorResponses(401, 403, 404) } } },
    async (request) => {
      const asset = isId(request.params.id) ? await findAsset(db, request.params.id) : null;
      if (!asset) throw new ApiError('not_found', 'No such asset');
      return asset;
    },
  );

  app.post<{ Params: typeof IdParams.static }>(
    '/assets/:id/retry',
    {
      schema: {
        summary: 'Put a failed asset back to pending',
        tags: ['admin'],
        params: IdParams,
        response: { 200: AssetSchema, ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request) => {
      const asset = isId(request.params.id) ? await findAsset(db, request.params.id) : null;
      if (!asset) throw new ApiError('not_found', 'No such asset');
      if (asset.state !== 'failed') throw new ApiError('conflict', `Only failed assets can be retried; this one is ${asset.state}`);
      const delivery = await db.delivery.findUniqueOrThrow({
        where: { blobSha256_accountId: { blobSha256: asset.sha256, accountId: asset.accountId } },
        select: { id: true },
      });
      await retryDeliveries({ deliveryIds: [delivery.id], accountId: asset.accountId });
      return (await findAsset(db, asset.id))!;
    },
  );

  app.post<{ Body: typeof RetryAllBody.static }>(
    '/assets/retry',
    {
      schema: {
        summary: 'Put every failed asset (of one account, or of all) back to pending',
        tags: ['admin'],
        body: RetryAllBody,
        response: { 200: Type.Object({ retried: Type.Integer({ description: 'deliveries put back to pending' }) }), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { accountId } = request.body;
      if (accountId !== undefined && !(isId(accountId) && (await db.account.findUnique({ where: { id: accountId } })))) {
        throw new ApiError('not_found', 'No such account');
      }
      return { retried: await retryDeliveries(accountId ? { accountId } : {}) };
    },
  );
}
