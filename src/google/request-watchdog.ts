import type { Readable } from 'node:stream';
import { RequestCutShort } from './outcomes.ts';

export const CLOSING_MESSAGE = 'the relay is closing: request to Google abandoned, to be retried';

export interface RequestLimits {
  /**
   * Longest a request may go without progress: connecting and sending (the connection taking a chunk of the body),
   * the answer's headers, a chunk of the answer. A peer that stops reading, or never answers, is left after this.
   */
  idleMs: number;
  /** Longest the whole request may take, for small requests only (a streamed upload may take as long as it flows). */
  deadlineMs?: number;
}

/**
 * One request's abort signal. fetch's own limits (undici: 300 s for the answer's headers, 300 s between answer
 * chunks, none while sending a body) would let a stalled peer hold a job for minutes per attempt, and shutdown for
 * as long: this cuts the request when it makes no progress for `idleMs`, passes its deadline, or when `closing`
 * (the worker shutting down) fires. fetch rejects with the RequestCutShort given as the reason, which the outcome
 * table classifies as transient.
 */
export class RequestWatchdog {
  readonly #controller = new AbortController();
  readonly signal = this.#controller.signal;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #idle: NodeJS.Timeout;
  readonly #bodies: Readable[] = [];
  readonly #closing: AbortSignal | undefined;
  readonly #onClosing = () => this.#cut('closing', CLOSING_MESSAGE);

  constructor(limits: RequestLimits, closing?: AbortSignal) {
    this.#idle = setTimeout(
      () =>
        this.#cut('stalled', `Google made no progress for ${limits.idleMs / 1000} s (took no bytes, sent no answer): request abandoned`),
      limits.idleMs,
    );
    this.#timers.push(this.#idle);
    if (limits.deadlineMs !== undefined) {
      this.#timers.push(
        setTimeout(
          () => this.#cut('deadline', `Google did not answer within ${limits.deadlineMs! / 1000} s: request abandoned`),
          limits.deadlineMs,
        ),
      );
    }
    this.#closing = closing;
    if (closing?.aborted) this.#onClosing();
    else closing?.addEventListener('abort', this.#onClosing, { once: true });
  }

  /** Something moved: the idle clock starts again. */
  progress(): void {
    if (!this.signal.aborted) this.#idle.refresh();
  }

  /**
   * The body to hand to fetch: each chunk the connection asks for counts as progress (fetch asks for the next one
   * only once the socket took the last), and the file behind it is closed however the request ends.
   */
  track(body: Readable): AsyncIterable<Buffer> {
    this.#bodies.push(body);
    const watchdog = this;
    return (async function* () {
      for await (const chunk of body) {
        watchdog.progress();
        yield chunk as Buffer;
      }
    })();
  }

  /** The request is over (answered and read, or failed): stop watching and release what it held. */
  done(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#closing?.removeEventListener('abort', this.#onClosing);
    for (const body of this.#bodies) if (!body.destroyed) body.destroy();
  }

  #cut(reason: RequestCutShort['reason'], message: string): void {
    if (this.signal.aborted) return;
    this.#controller.abort(new RequestCutShort(reason, message));
    this.done();
  }
}
