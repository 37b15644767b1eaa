import { constants, PerformanceObserver } from 'node:perf_hooks';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Streamed bytes (uploads received, blobs read to be sent on) travel as 64 KiB off-heap buffers that die at once, but
 * V8 frees a buffer only at the young-generation GC after it dies, and a byte stream hardly triggers one: each chunk
 * leaves about 1 KiB on the JS heap, so with 2 MiB semi-spaces some 30 MB of dead buffers piled up during every
 * large upload (bench part b). Asking for a young GC every few MiB streamed, counted across the whole process,
 * bounds that pile to about the interval, for well under a millisecond per collection.
 *
 * `gc` exists only when Node runs with --expose-gc, as `npm start` and the Docker image do; without it this does
 * nothing and memory is merely less tight.
 *
 * The interval counts from the last young GC of any kind: with several uploads in flight, their requests allocate
 * enough on the JS heap for V8 to collect every few MiB by itself, and a forced collection on top (each ~1 ms with eight
 * requests' objects to copy) cost ~7% of the API process's CPU in bench (c) and promoted those objects to the old
 * generation sooner.
 */
export class YoungGcPacer {
  private sinceLast = 0;

  constructor(
    private readonly everyBytes: number,
    private readonly collect: (() => void) | undefined,
  ) {}

  received(bytes: number): void {
    if (!this.collect) return;
    this.sinceLast += bytes;
    if (this.sinceLast < this.everyBytes) return;
    this.sinceLast = 0;
    this.collect();
  }

  /** A young GC happened (V8's own, or ours): the buffers dead so far are freed, the interval starts again. */
  collected(): void {
    this.sinceLast = 0;
  }
}

type ExposedGc = (options: { type: 'minor' | 'major' }) => void;

function exposedMinorGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: ExposedGc }).gc;
  return gc ? () => gc({ type: 'minor' }) : undefined;
}

export const GC_EVERY_BYTES = 2 * 1024 * 1024;

/** The process's pacer, fed by every upload's meter and every blob read for forwarding. */
export const streamGc = new YoungGcPacer(GC_EVERY_BYTES, exposedMinorGc());

// V8 reports its collections to 'gc' observers (entries arrive shortly after each one).
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) streamGc.collected();
  }
}).observe({ entryTypes: ['gc'] });

/** A pass-through that feeds `streamGc`. */
export class GcPacedStream extends Transform {
  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    streamGc.received(chunk.length);
    callback(null, chunk);
  }
}
