import { createHmac } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';

/** What the MAC covers: a fixed label, so the key answers nothing but this question. */
export function identityProof(key: Buffer, nonce: string): string {
  return createHmac('sha256', key).update(`photo-relay-emulator-identity:${nonce}`).digest('base64url');
}

/**
 * GET /emulator/identity?nonce=…: proves this emulator was started by a process holding `key` (the relay's demo
 * mode, whose processes share the key through the data directory). A relay that finds the emulator's port taken asks
 * before it sends it any token; a squatter on the port cannot answer.
 */
export function identityRoute(key: Buffer): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: { nonce?: string } }>('/emulator/identity', async (req, reply) => {
      const nonce = req.query.nonce;
      if (typeof nonce !== 'string' || !/^[A-Za-z0-9_-]{16,128}$/.test(nonce)) return reply.code(400).send({ error: 'nonce required' });
      return { proof: identityProof(key, nonce) };
    });
  };
}
