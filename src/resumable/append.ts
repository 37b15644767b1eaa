import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { streamGc } from '../ingest/young-gc.ts';

// The body is copied into buffers of this size, written (one thread-pool trip each) while the next one fills.
const BATCH_BYTES = 1024 * 1024;
/**
 * Every this many bytes written, an fdatasync starts in the background (one at a time) while the body streams on, so
 * the one an append ends with, which its answer waits for, finds little left to write. Measured on 8 MiB appends
 * (the web app's): ~15% less time per append with 2–4 MiB; one after every 1 MiB batch made them slower. A long
 * append's interval grows with what it has written (a quarter of it, up to SYNC_AHEAD_MAX_BYTES): a 4 GiB append
 * makes about 80 of them, not 1,400.
 */
const SYNC_AHEAD_BYTES = 3 * BATCH_BYTES;
const SYNC_AHEAD_MAX_BYTES = 64 * BATCH_BYTES;

/**
 * Batch buffers, reused across appends. The socket's chunks are copied out the moment they arrive and die young,
 * freed by the next scavenge. Held instead until their batch was written, they outlived scavenges and were promoted:
 * a 1 GiB append cost 49 full collections (--trace-gc, bench part g), 2 since; fresh batch buffers per append would
 * be promoted the same way. A few are kept: one pair per concurrent append.
 */
class BatchBuffers {
  private readonly free: Buffer[] = [];
  constructor(private readonly keep: number) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES);
  }

  give(buffer: Buffer): void {
    if (this.free.length < this.keep) this.free.push(buffer);
  }
}

const buffers = new BatchBuffers(8);

export class TooMuchContent extends Error {
  constructor(readonly limit: number) {
    super(`more than ${limit} bytes`);
    this.name = 'TooMuchContent';
  }
}

export interface AppendOptions {
  handle: FileHandle;
  /** Where the bytes go: the upload's durable offset. */
  position: number;
  /** Bytes this append may add at most (declared length or size limit left). */
  limit: number;
  /** Updated with exactly the bytes written, in order: the whole file's running hash, the request's checksum. */
  hashes: Hash[];
  signal: AbortSignal;
  /** Called every `checkpointBytes` with the file fsynced up to the given offset, so a long append keeps its progress. */
  checkpoint?: { everyBytes: number; save(offset: number): Promise<void> };
}

export interface AppendOutcome {
  /** Bytes written to the file (not yet fsynced), whatever happened. */
  written: number;
  /** Why the body did not arrive whole (a cut, a stop, too much content, a disk error); undefined when it did. */
  error: unknown;
  /**
   * A background fdatasync failed (its error is `error`): the kernel may have dropped the pages it could not write, and
   * a later fsync would not say so. None of the bytes this append wrote may be taken as durable.
   */
  syncFailed?: true;
}

/**
 * Stream a request body into the upload's file at its offset. Hashes see a byte only once it is written, so they
 * always cover exactly the first `written` bytes, even when the body is cut midway.
 */
export async function appendBody(body: Readable, options: AppendOptions): Promise<AppendOutcome> {
  const sink = new AppendSink(options);
  try {
    await pipeline(body, sink, { signal: options.signal });
    await sink.checkpointed();
    if (sink.syncFailure !== undefined) return { written: sink.written, error: sink.syncFailure, syncFailed: true };
    return { written: sink.written, error: undefined };
  } catch (err) {
    // Wait for a batch being written to land (or fail), so `written` and the hashes agree with the file; then keep
    // the bytes that arrived before the body broke off, which the client need not send again.
    await sink.settled();
    await sink.salvage().catch(() => {});
    await sink.checkpointed();
    if (sink.syncFailure !== undefined) return { written: sink.written, error: sink.syncFailure, syncFailed: true };
    return { written: sink.written, error: err };
  } finally {
    sink.release();
  }
}

/**
 * Double buffering: the body's bytes are copied into one batch while the other is written, hashed once written,
 * then reused. Only when both are busy does the stream wait (and the socket with it).
 */
class AppendSink extends Writable {
  written = 0;
  /** Bytes taken from the body: written, being written, or in the batch filling. */
  private accepted = 0;
  private filling: Buffer | undefined = buffers.take();
  private filled = 0;
  private spare: Buffer | undefined = buffers.take();
  private inFlight: Promise<void> = Promise.resolve();
  private copying: Promise<void> | undefined;
  private lastSync = 0;
  private lastCheckpoint = 0;
  /** A background fdatasync, and the checkpoint it may then record. */
  private syncing: Promise<void> | undefined;
  syncFailure: unknown;

  constructor(private readonly options: AppendOptions) {
    // Little is queued in front of the batches: a cut loses at most this of what arrived (the batches are kept).
    super({ highWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.accepted + chunk.length > this.options.limit) {
      callback(new TooMuchContent(this.options.limit));
      return;
    }
    this.accepted += chunk.length;
    streamGc.received(chunk.length);
    let at = this.copyIn(chunk, 0);
    if (this.filled < BATCH_BYTES) {
      callback();
      return;
    }
    // A full batch goes to the disk once the other one has landed: only then does the stream wait.
    this.copying = (async () => {
      for (;;) {
        await this.flush();
        // The body broke off meanwhile: what was copied is salvaged, the rest of this chunk is not taken.
        if (this.destroyed) return;
        at = this.copyIn(chunk, at);
        if (this.filled < BATCH_BYTES) return;
      }
    })();
    this.copying.then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.flush()
      .then(() => this.inFlight)
      .then(
        () => callback(),
        (err: Error) => callback(err),
      );
  }

  /** Copy the chunk from `at` into the batch filling, as far as it has room; returns where it stopped. */
  private copyIn(chunk: Buffer, at: number): number {
    const n = Math.min(BATCH_BYTES - this.filled, chunk.length - at);
    chunk.copy(this.filling!, this.filled, at, at + n);
    this.filled += n;
    return at + n;
  }

  /** Once nothing is being copied or written any more, so `written` and the hashes agree with the file. */
  async settled(): Promise<void> {
    await this.copying?.catch(() => {});
    await this.inFlight.catch(() => {});
  }

  /** Write what is still in the batch filling, after the stream failed (every byte of it arrived, in order). */
  async salvage(): Promise<void> {
    await this.flush();
    await this.inFlight;
  }

  /** The batches go back for other appends (none is in use any more). */
  release(): void {
    if (this.filling) buffers.give(this.filling);
    if (this.spare) buffers.give(this.spare);
    this.filling = this.spare = undefined;
  }

  /** Start writing the batch filled so far, once the previous write landed (its failure fails this). */
  private async flush(): Promise<void> {
    await this.inFlight;
    if (this.filled === 0) return;
    const batch = this.filling!;
    const bytes = this.filled;
    this.filling = this.spare;
    this.spare = undefined;
    this.filled = 0;
    this.inFlight = this.writeBatch(batch, bytes);
    // Unobserved until the next flush or the end: a failure must not be an unhandled rejection meanwhile.
    this.inFlight.catch(() => {});
  }

  private async writeBatch(batch: Buffer, bytes: number): Promise<void> {
    const { handle, position, hashes, checkpoint } = this.options;
    const at = position + this.written;
    try {
      const { bytesWritten } = await handle.write(batch, 0, bytes, at);
      if (bytesWritten !== bytes) {
        // A short write is a full disk: take back the fragment, so the file never holds bytes the hashes missed.
        await handle.truncate(at);
        throw Object.assign(new Error('short write: the disk is full'), { code: 'ENOSPC' });
      }
      const data = batch.subarray(0, bytes);
      for (const hash of hashes) hash.update(data);
      this.written += bytes;
    } finally {
      this.spare = batch;
    }
    const interval = Math.min(SYNC_AHEAD_MAX_BYTES, Math.max(SYNC_AHEAD_BYTES, this.written / 4));
    if (!this.syncing && this.written - this.lastSync >= interval) {
      // In the background: writes go on while the disk catches up. fsync covers every byte written before it was
      // called, so the offset taken now is durable once it returns, and may be recorded as a checkpoint. One at a
      // time; a failed record is only skipped, a failed sync fails the append (AppendOutcome.syncFailed).
      const durable = this.written;
      this.lastSync = durable;
      this.syncing = handle
        .datasync()
        .then(
          async () => {
            if (!checkpoint || durable - this.lastCheckpoint < checkpoint.everyBytes) return;
            this.lastCheckpoint = durable;
            await checkpoint.save(position + durable);
          },
          (err: unknown) => {
            this.syncFailure ??= err;
          },
        )
        .catch(() => {})
        .finally(() => (this.syncing = undefined));
    }
  }

  /** A background sync, or the checkpoint it records, still running: the final offset must not be overtaken by an older one. */
  async checkpointed(): Promise<void> {
    await this.syncing;
  }
}
