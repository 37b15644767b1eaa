import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../http/errors.ts';
import { checkName } from '../validation/names.ts';
import { pageOf, toPage } from '../http/pagination.ts';
import { errorResponses, IdParams, Page, PageQuery } from '../http/schemas.ts';
import { isId } from '../db/ids.ts';
import { deviceViews, DeviceSchema } from '../devices/device-view.ts';
import type { Services } from '../services.ts';

const ListQuery = Type.Composite([PageQuery, Type.Object({ accountId: Type.Optional(Type.String({ maxLength: 100 })) })]);
const RenameBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

/** The household's devices: list, inspect, rename, revoke. */
export default async function adminDeviceRoutes(app: FastifyInstance, { services }: { services: Services }) {
  const { db } = services;

  async function deviceOr404(id: string) {
    const [view] = isId(id) ? await deviceViews(db, { ids: [id] }) : [];
    if (!view) throw new ApiError('not_found', 'No such device');
    return view;
  }

  app.get<{ Querystring: typeof ListQuery.static }>(
    '/devices',
    {
      schema: {
        summary: 'List devices (optionally of one account), with counts, lastSeenAt and bytesReceived',
        tags: ['admin'],
        querystring: ListQuery,
        response: { 200: Page(DeviceSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const { accountId } = request.query;
      const page = pageOf(request.query);
      if (accountId !== undefined && !isId(accountId)) return { items: [], nextCursor: null };
      const rows = await deviceViews(db, accountId ? { accountId } : {}, page);
      return toPage(rows, page.size);
    },
  );

  app.get<{ Params: typeof IdParams.static }>(
    '/devices/:id',
    { schema: { summary: 'One device', tags: ['admin'], params: IdParams, response: { 200: DeviceSchema, ...errorResponses(401, 403, 404) } } },
    async (request) => deviceOr404(request.params.id),
  );

  app.patch<{ Params: typeof IdParams.static; Body: typeof RenameBody.static }>(
    '/devices/:id',
    {
      schema: { summary: 'Rename a device', tags: ['admin'], params: IdParams, body: RenameBody, response: { 200: DeviceSchema, ...errorResponses(400, 401, 403, 404) } },
    },
    async (request) => {
      const name = checkName(request.body.name);
      const { id } = await deviceOr404(request.params.id);
      await db.device.update({ where: { id }, data: { name } });
      return deviceOr404(id);
    },
  );

  app.delete<{ Params: typeof IdParams.static }>(
    '/devices/:id',
    {
      schema: {
        summary: 'Revoke a device: its token stops working at once; its assets stay and keep forwarding',
        tags: ['admin'],
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const { id } = await deviceOr404(request.params.id);
      await db.device.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: services.clock() } });
      return reply.code(204).send();
    },
  );
}
