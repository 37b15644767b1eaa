import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ApiError } from '../http/errors.ts';
import { checkName } from '../validation/names.ts';
import { pageOf, toPage } from '../http/pagination.ts';
import { errorResponses, IdParams, Page, PageQuery, Timestamp } from '../http/schemas.ts';
import { isId, newId } from '../db/ids.ts';
import { createDevice, createPairing } from '../devices/pairing.ts';
import { nextcloudLoginUrl } from '../nextcloud/login-url.ts';
import type { Services } from '../services.ts';
import { accountViews, AccountSchema } from './account-view.ts';
import { relayStatus, StatusSchema } from './status.ts';
import { demoLink } from '../google/demo-link.ts';

const CreateAccountBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
const PatchAccountBody = Type.Object(
  { name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })), forwarding: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('paused')])) },
  { additionalProperties: false },
);
const PairingSchema = Type.Object({ code: Type.String(), expiresAt: Timestamp, pairUrl: Type.String() });
const CreateDeviceBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    platform: Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9._ -]+$' }),
  },
  { additionalProperties: false },
);
const CreatedDevice = Type.Object({
  deviceId: Type.String(),
  token: Type.String(),
  accountId: Type.String(),
  nextcloudLoginUrl: Type.String(),
});

export default async function accountRoutes(app: FastifyInstance, { services }: { services: Services }) {
  const { db } = services;

  async function accountOr404(id: string) {
    const [view] = isId(id) ? await accountViews(services, { ids: [id] }) : [];
    if (!view) throw new ApiError('not_found', 'No such account');
    return view;
  }

  app.post<{ Body: typeof CreateAccountBody.static }>(
    '/accounts',
    {
      schema: {
        summary: "Create an account: one household member's Google Photos destination",
        tags: ['admin'],
        body: CreateAccountBody,
        response: { 201: AccountSchema, ...errorResponses(400, 401, 403) },
      },
    },
    async (request, reply) => {
      const account = await db.account.create({ data: { id: newId(), name: checkName(request.body.name) } });
      if (services.config.demoMode) {
        // The account exists either way; a failed demo link leaves it unlinked, as any account starts.
        await demoLink(services, account).catch((err: unknown) => request.log.warn({ err }, 'demo link failed'));
      }
      return reply.code(201).send(await accountOr404(account.id));
    },
  );

  app.get<{ Querystring: typeof PageQuery.static }>(
    '/accounts',
    {
      schema: {
        summary: 'List accounts',
        tags: ['admin'],
        querystring: PageQuery,
        response: { 200: Page(AccountSchema), ...errorResponses(400, 401, 403) },
      },
    },
    async (request) => {
      const page = pageOf(request.query);
      return toPage(await accountViews(services, {}, page), page.size);
    },
  );

  app.get<{ Params: typeof IdParams.static }>(
    '/accounts/:id',
    {
      schema: {
        summary: 'One account',
        tags: ['admin'],
        params: IdParams,
        response: { 200: AccountSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request) => accountOr404(request.params.id),
  );

  app.patch<{ Params: typeof IdParams.static; Body: typeof PatchAccountBody.static }>(
    '/accounts/:id',
    {
      schema: {
        summary: 'Rename an account, or pause or resume its forwarding',
        tags: ['admin'],
        params: IdParams,
        body: PatchAccountBody,
        response: { 200: AccountSchema, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request) => {
      const { name, forwarding } = request.body;
      const data = { ...(name !== undefined ? { name: checkName(name) } : {}), ...(forwarding ? { forwarding } : {}) };
      const { id } = await accountOr404(request.params.id);
      await db.account.update({ where: { id }, data });
      // Deliveries held while paused are scheduled again at once, not at the next reconcile.
      if (request.body.forwarding === 'active') await services.scheduler.account(id);
      return accountOr404(id);
    },
  );

  app.delete<{ Params: typeof IdParams.static }>(
    '/accounts/:id',
    {
      schema: {
        summary: 'Delete an account: refused (409) while it has devices or assets not yet in Google Photos',
        tags: ['admin'],
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { id } = await accountOr404(request.params.id);
      const removal = await services.ledger.accounts.remove(id);
      if (!removal.removed) {
        if (removal.activeDevices > 0) throw new ApiError('conflict', `The account still has ${removal.activeDevices} device(s): revoke them first`);
        throw new ApiError('conflict', `${removal.undelivered} item(s) of this account are not in Google Photos yet`);
      }
      return reply.code(204).send();
    },
  );

  app.get(
    '/status',
    { schema: { summary: 'Queues, quota, per-account backlog and ETA, storage', tags: ['admin'], response: { 200: StatusSchema, ...errorResponses(401, 403) } } },
    async () => relayStatus(services),
  );

  app.post<{ Params: typeof IdParams.static }>(
    '/accounts/:id/pairings',
    {
      schema: {
        summary: 'Create a one-time pairing code (valid 15 minutes) for a phone of this account',
        tags: ['admin'],
        params: IdParams,
        response: { 201: PairingSchema, ...errorResponses(401, 403, 404) },
      },
    },
    async (request, reply) => {
      const account = await accountOr404(request.params.id);
      return reply.code(201).send(await createPairing(services, account.id));
    },
  );

  app.post<{ Params: typeof IdParams.static; Body: typeof CreateDeviceBody.static }>(
    '/accounts/:id/devices',
    {
      schema: {
        summary: 'Create a device of this account directly; its token is shown once, with the Nextcloud app QR login URL',
        tags: ['admin'],
        params: IdParams,
        body: CreateDeviceBody,
        response: { 201: CreatedDevice, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (request, reply) => {
      const account = await accountOr404(request.params.id);
      const name = checkName(request.body.name);
      const now = services.clock();
      // The same device creation as pairing's: one function, whichever way a device comes to be.
      const created = await db.$transaction((tx) => createDevice(tx, { accountId: account.id, name, platform: request.body.platform, now }));
      return reply.code(201).send({ ...created, nextcloudLoginUrl: nextcloudLoginUrl(name, created.token, services.config.publicUrl) });
    },
  );
}
