import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { redeemPairing } from '../devices/pairing.ts';
import { hashToken } from '../devices/tokens.ts';
import { ApiError } from '../http/errors.ts';
import type { InflightUploads } from '../intake/inflight.ts';
import type { Services } from '../services.ts';
import { checkName } from '../validation/names.ts';
import { ignoreBody, readSmallBody } from '../webdav/body.ts';
import { escapeXml } from '../webdav/xml.ts';
import { loginNameOf } from './login-url.ts';

const START = '/index.php/login/v2';
const POLL = '/index.php/login/v2/poll';
const PAGE = '/index.php/login/v2/flow';
export const PUBLIC_LOGIN_PATHS = [START, POLL, PAGE];

// A flow lasts as long as Nextcloud's (20 minutes); the apps poll every 30 s.
const FLOW_TTL_SECONDS = 20 * 60;

/**
 * Login Flow v2 for a server address typed in the app: the app gets a poll token and a page to open; the person
 * enters a pairing code there (from `photo-relay pair`), which creates the device; the next poll answers once with
 * its token as the app password, then the flow is gone. State is short-lived and lives in Redis: the poll and page
 * tokens only as hashes; the new device's token from redemption until the first poll takes it (GETDEL), at most
 * FLOW_TTL_SECONDS. The device itself is in Postgres like every other.
 */
export function loginFlowRoutes(app: FastifyInstance, services: Services, uploads: InflightUploads): void {
  const { redis, config } = services;
  const key = (kind: 'poll' | 'page', token: string) => `${config.redisPrefix}:nc-login:${kind}:${hashToken(token)}`;

  // Unauthenticated and each start keeps a key for FLOW_TTL_SECONDS: held to a human pace per address.
  const limited = {
    schema: { summary: 'Nextcloud Login Flow v2: start', tags: ['nextcloud'] },
    config: { rateLimit: { max: 30, timeWindow: '1 minute' } },
  };
  app.post(START, limited, async (request, reply) => {
    ignoreBody(request);
    const poll = randomBytes(32).toString('base64url');
    const page = randomBytes(32).toString('base64url');
    await redis.set(key('page', page), hashToken(poll), 'EX', FLOW_TTL_SECONDS);
    return reply
      .code(200)
      .type('application/json; charset=utf-8')
      .send({ poll: { token: poll, endpoint: `${config.publicUrl}${POLL}` }, login: `${config.publicUrl}${PAGE}?token=${page}` });
  });

  // The token as a form field (Android) or in the query string (iOS).
  app.post(
    POLL,
    {
      schema: { summary: 'Nextcloud Login Flow v2: poll (token as form field or query)', tags: ['nextcloud'] },
      config: { rateLimit: { max: 120, timeWindow: '1 minute' } },
    },
    async (request, reply) => {
      const form = new URLSearchParams(await readSmallBody(request, reply, uploads));
      const query = request.query as Record<string, unknown>;
      const token = form.get('token') ?? (typeof query.token === 'string' ? query.token : null);
      if (!token) throw new ApiError('not_found', 'No such login flow');
      const done = await redis.getdel(`${config.redisPrefix}:nc-login:done:${hashToken(token)}`);
      if (!done) throw new ApiError('not_found', 'Not logged in yet');
      return reply.code(200).type('application/json; charset=utf-8').send(JSON.parse(done));
    },
  );

  const page = (reply: FastifyReply, body: string, status = 200) =>
    reply
      .code(status)
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(
        `<!doctype html>\n<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Photo Relay</title></head><body style="font-family:sans-serif;max-width:30em;margin:2em auto">${body}</body></html>\n`,
      );
  const form = (token: string, message = '') =>
    `<h1>Photo Relay</h1>${message ? `<p><strong>${escapeXml(message)}</strong></p>` : ''}` +
    `<p>Enter a pairing code from <code>photo-relay pair &lt;account&gt;</code> to connect this app.</p>` +
    `<form method="post" action="${PAGE}?token=${escapeXml(token, true)}">` +
    `<p><label>Pairing code<br><input name="code" autocomplete="one-time-code" autocapitalize="characters" required></label></p>` +
    `<p><label>Name of this phone<br><input name="name" value="Nextcloud app" maxlength="200" required></label></p>` +
    `<p><button type="submit">Connect</button></p></form>`;

  const flowOf = async (request: FastifyRequest): Promise<{ token: string; pollHash: string } | null> => {
    const token = (request.query as Record<string, unknown>).token;
    if (typeof token !== 'string' || token.length === 0 || token.length > 100) return null;
    const pollHash = await redis.get(key('page', token));
    return pollHash ? { token, pollHash } : null;
  };

  app.get(PAGE, { schema: { hide: true } }, async (request, reply) => {
    const flow = await flowOf(request);
    if (!flow) return page(reply, '<h1>Photo Relay</h1><p>This login has expired. Start again in the app.</p>', 404);
    return page(reply, form(flow.token));
  });

  app.post(PAGE, { schema: { hide: true } }, async (request, reply) => {
    const fields = new URLSearchParams(await readSmallBody(request, reply, uploads));
    const flow = await flowOf(request);
    if (!flow) return page(reply, '<h1>Photo Relay</h1><p>This login has expired. Start again in the app.</p>', 404);
    const code = fields.get('code') ?? '';
    let name: string;
    try {
      name = checkName((fields.get('name') ?? '').trim() || 'Nextcloud app');
    } catch (err) {
      return page(reply, form(flow.token, err instanceof ApiError ? err.message : 'Invalid name'), 400);
    }
    let created;
    try {
      created = await services.limits.pairing.guard(request.ip, ['not_found', 'validation_failed'], () =>
        redeemPairing(services, { code, name, platform: 'nextcloud' }),
      );
    } catch (err) {
      if (err instanceof ApiError && err.statusCode < 500) return page(reply, form(flow.token, err.message), err.statusCode);
      throw err;
    }
    // The page works once; the poll answers once.
    await redis.del(key('page', flow.token));
    const answer = { server: config.publicUrl, loginName: loginNameOf(name), appPassword: created.token };
    await redis.set(`${config.redisPrefix}:nc-login:done:${flow.pollHash}`, JSON.stringify(answer), 'EX', FLOW_TTL_SECONDS);
    return page(reply, '<h1>Photo Relay</h1><p>Connected. Go back to the app: it finishes the login by itself.</p>');
  });
}
