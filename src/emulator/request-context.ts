import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Socket } from 'node:net';
import type { Fault } from './faults.ts';
import type { EmulatorState } from './state.ts';

/** Per-request facts the gate establishes for handlers (and for the stats recorder once the response is over). */
export interface RequestContext {
  endpoint: string;
  email?: string;
  clientId?: string;
  itemFault?: Extract<Fault, { kind: 'itemStatus' }>;
  /** Upload endpoints: cut the connection after this many body bytes. */
  dropAfterBytes?: number;
  /** Do the work, then cut the connection instead of answering (the "response lost" case). */
  dropResponse: boolean;
  outcome?: 'dropped' | 'aborted' | 'stalled';
  /** Captured up front: once the request stream is destroyed, req.raw.socket no longer points at it. */
  socket: Socket;
  /** performance.now() before which a batchCreate must not answer, so overlaps stay observable with zero latency. */
  holdUntil: number;
}

export class RequestContexts {
  readonly #byRequest = new WeakMap<FastifyRequest, RequestContext>();

  constructor(private readonly state: EmulatorState) {}

  open(req: FastifyRequest, reply: FastifyReply, endpoint: string): RequestContext {
    const ctx: RequestContext = { endpoint, socket: req.raw.socket, dropResponse: false, holdUntil: 0 };
    this.#byRequest.set(req, ctx);
    const stats = this.state.stats;
    // 'close' fires for answered, dropped and client-aborted requests alike, unlike fastify's onResponse.
    reply.raw.once('close', () => {
      const status = ctx.outcome ?? (reply.raw.writableFinished ? String(reply.raw.statusCode) : 'aborted');
      stats.count(endpoint, status);
    });
    return ctx;
  }

  get(req: FastifyRequest): RequestContext | undefined {
    return this.#byRequest.get(req);
  }

  require(req: FastifyRequest): RequestContext {
    const ctx = this.#byRequest.get(req);
    if (!ctx) throw new Error(`no request context for ${req.method} ${req.url}: route registered without its gate`);
    return ctx;
  }
}

/** Cut the TCP connection without an answer, as a network failure between the client and Google would. */
export function dropConnection(reply: FastifyReply, ctx: RequestContext): void {
  ctx.outcome = 'dropped';
  reply.hijack();
  ctx.socket.destroy();
}
