import type { FastifyReply, FastifyRequest } from 'fastify';
import type { InflightUploads } from './inflight.ts';

// How long an early error answer keeps reading and dropping the rest of the body before closing.
const LINGER_MS = 10_000;

/**
 * Prepare the answer to an upload we reject, often while the client is still sending (over the limit, not media).
 * Closing the socket with its bytes unread makes the kernel send a reset, which can wipe our answer from the client's
 * buffers before it reads it (RFC 9112 §9.6): the phone would see EPIPE/ECONNRESET instead of 413 or 415 and retry
 * forever. So when the body is not all in, stop parsing it, read and drop the rest for up to LINGER_MS (after which
 * the connection is cut), and keep the connection reusable if it all arrives in time. Every door answers this way.
 */
export function answerEarly(request: FastifyRequest, reply: FastifyReply, uploads: InflightUploads): void {
  const raw = request.raw;
  // Shutting down: no lingering, the process is about to exit. A stalled client sends nothing more to drain.
  if (raw.complete || raw.destroyed || uploads.stopping || uploads.wasStalled(raw)) {
    reply.header('connection', 'close');
    return;
  }
  raw.unpipe();
  raw.resume();
  const linger = uploads.start();
  const cut = () => raw.socket?.destroy();
  const timer = setTimeout(cut, LINGER_MS).unref();
  linger.signal.addEventListener('abort', cut);
  const done = () => {
    clearTimeout(timer);
    uploads.end(linger);
  };
  raw.once('end', done);
  raw.socket?.once('close', done);
}
