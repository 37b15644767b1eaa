import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * The server-wide request timeout stays off (`requestTimeout: 0`) because an upload that keeps flowing may take as
 * long as it needs. Every other request is small, so it gets a deadline of its own: its body must have arrived
 * within `timeoutMs` of its headers, or the connection is cut. Without it, a client dripping a byte a minute into
 * an unauthenticated route (/api/v1/pair) holds its connection for good, as the idle timeout never fires.
 * Headers themselves are bounded by the server's headersTimeout.
 */
export function requestDeadline(timeoutMs: number, isUpload: (request: FastifyRequest) => boolean) {
  return async function deadline(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const raw = request.raw;
    // complete: the whole message (headers and body) has been parsed off the socket, read or not.
    if (raw.complete || isUpload(request)) return;
    const timer = setTimeout(() => {
      if (raw.complete || reply.sent) return;
      request.log.info({ timeoutMs }, 'request body did not arrive in time; closing the connection');
      raw.socket?.destroy();
    }, timeoutMs);
    timer.unref();
    const stop = () => clearTimeout(timer);
    raw.once('end', stop);
    raw.once('close', stop);
  };
}
