import type { IncomingMessage } from 'node:http';
import { ApiError } from '../http/errors.ts';

/**
 * The uploads this process is receiving, whatever door they came through (native, WebDAV, the doors to come), and
 * early answers still draining. Two things stop them:
 * - a shutdown (stopAll): an upload still running when the grace period ran out used to be killed with the process,
 *   leaving its temp file in the spool, and a draining connection held the server open past it;
 * - a body that makes no progress for `idleMs`: a client that stops sending mid-body would otherwise hold its
 *   connection, its temp file and its slot for as long as the connection lives.
 * Each stopped upload sees its signal aborted with the answer to give, and deletes its temp file.
 */
export class InflightUploads {
  private readonly running = new Map<AbortController, () => void>();
  private readonly stalled = new WeakSet<IncomingMessage>();
  stopping = false;

  constructor(readonly idleMs = 60_000) {}

  /** Register an upload. With its request, the upload is also aborted when the body stops arriving (see watchIdle). */
  start(raw?: IncomingMessage): AbortController {
    const upload = new AbortController();
    this.running.set(upload, raw ? this.watchIdle(raw, upload) : () => {});
    if (this.stopping) upload.abort(shuttingDown());
    return upload;
  }

  end(upload: AbortController): void {
    this.running.get(upload)?.();
    this.running.delete(upload);
  }

  /** Stop them all: each answers 503 not_ready (or is cut) and deletes its temp file. */
  stopAll(): void {
    this.stopping = true;
    for (const upload of this.running.keys()) upload.abort(shuttingDown());
  }

  /** Whether this request's upload was stopped for making no progress: its client is not reading either. */
  wasStalled(raw: IncomingMessage): boolean {
    return this.stalled.has(raw);
  }

  /**
   * Progress is bytes arriving on the connection. Time spent on our side does not count against the client: before
   * the door reads the body, while the pipeline holds it back (a slow disk), or once the body is all in (hashing,
   * committing). Watched by polling the socket's byte count rather than listening for data, which would change
   * the request's flow. Returns the function that stops watching.
   */
  private watchIdle(raw: IncomingMessage, upload: AbortController): () => void {
    const socket = raw.socket;
    if (!socket) return () => {};
    let seen = socket.bytesRead;
    let lastProgress = Date.now();
    const timer = setInterval(
      () => {
        if (raw.complete || raw.readableEnded || raw.destroyed) return stop();
        const now = Date.now();
        const read = socket.bytesRead;
        if (read !== seen || raw.readableFlowing !== true || raw.readableLength > 0) {
          seen = read;
          lastProgress = now;
        } else if (now - lastProgress >= this.idleMs) {
          stop();
          this.stalled.add(raw);
          upload.abort(noProgress(this.idleMs));
        }
      },
      Math.max(50, Math.min(1000, this.idleMs / 4)),
    ).unref();
    const stop = () => clearInterval(timer);
    upload.signal.addEventListener('abort', stop, { once: true });
    return stop;
  }
}

function shuttingDown(): ApiError {
  return new ApiError('not_ready', 'The relay is shutting down: send the upload again');
}

function noProgress(idleMs: number): ApiError {
  return new ApiError('incomplete_upload', `No part of the body arrived for ${Math.round(idleMs / 1000)} s: send the upload again`);
}
