import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/**
 * onRequest hook: behind a reverse proxy without TRUST_PROXY, every client shares the proxy's address, so the
 * failure limiter and the logs see one client. Say so once, on the first request that shows it.
 */
export function warnUntrustedProxy(trustProxy: boolean, log: Logger) {
  let warned = trustProxy;
  return async function untrustedProxy(request: FastifyRequest): Promise<void> {
    if (warned || request.headers['x-forwarded-for'] === undefined) return;
    warned = true;
    log.warn(
      { remoteAddress: request.ip },
      'a request carries X-Forwarded-For but TRUST_PROXY is not set: every client behind that proxy shares its address ' +
        'for rate limits and logs. Set TRUST_PROXY=true if the relay runs behind a reverse proxy (and only then).',
    );
  };
}
