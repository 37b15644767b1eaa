import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { device, requireDevice } from '../http/auth.ts';
import { errorResponses } from '../http/schemas.ts';
import { checkName } from '../validation/names.ts';
import type { Services } from '../services.ts';
import { deviceViews, DeviceSchema } from './device-view.ts';
import { redeemPairing } from './pairing.ts';

const PairBody = Type.Object(
  {
    code: Type.String({ minLength: 1, maxLength: 32 }),
    name: Type.String({ minLength: 1, maxLength: 200 }),
    platform: Type.String({ minLength: 1, maxLength: 50, pattern: '^[A-Za-z0-9._ -]+$' }),
  },
  { additionalProperties: false },
);

const PairResponse = Type.Object({ deviceId: Type.String(), token: Type.String(), accountId: Type.String() });

export default async function deviceRoutes(app: FastifyInstance, { services }: { services: Services }) {
  app.post<{ Body: typeof PairBody.static }>(
    '/pair',
    {
      config: { rateLimit: { max: 60, timeWindow: '1 minute' } },
      schema: {
        summary: 'Exchange a one-time pairing code for a device token (shown once)',
        tags: ['device'],
        body: PairBody,
        response: { 201: PairResponse, ...errorResponses(400, 404, 429) },
      },
    },
    async (request, reply) => {
      // A bad name is the phone's mistake, not a guess at a code: refused before the guessing limiter counts anything.
      const input = { ...request.body, name: checkName(request.body.name) };
      const paired = await services.limits.pairing.guard(request.ip, ['not_found', 'validation_failed'], () =>
        redeemPairing(services, input),
      );
      return reply.code(201).send(paired);
    },
  );

  app.get(
    '/device',
    {
      onRequest: requireDevice(services),
      schema: {
        summary: 'This device, its counts by state and bytes received',
        tags: ['device'],
        response: { 200: DeviceSchema, ...errorResponses(401, 403) },
      },
    },
    async (request) => {
      const [view] = await deviceViews(services.db, { ids: [device(request).id] });
      return view;
    },
  );
}
