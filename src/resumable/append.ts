import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { streamGc } from '../ingest/young-gc.ts';

// Chunks off the socket (64 KiB) are written in batches: one writev per MiB, not one thread-pool trip per chunk.
const BATCH_BYTES = 1024 * 1024;

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
    return { written: sink.written, error: undefined };
  } catch (err) {
    // Wait for a batch being written to land (or fail), so `written` and the hashes agree with the file; then keep
    // the chunks that arrived whole before the body broke off, which the client need not send again.
    await sink.settled();
    await sink.salvage().catch(() => {});
    await sink.checkpointed();
    return { written: sink.written, error: err };
  }
}

class AppendSink extends Writable {
  written = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private lastCheckpoint = 0;
  private inFlight: Promise<void> = Promise.resolve();
  private checkpointing: Promise<void> | undefined;

  constructor(private readonly options: AppendOptions) {
    super({ highWaterMark: BATCH_BYTES });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.written + this.pendingBytes + chunk.length > this.options.limit) {
      callback(new TooMuchContent(this.options.limit));
      return;
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < BATCH_BYTES) {
      callback();
      return;
    }
    this.flush().then(() => callback(), callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.flush().then(() => callback(), callback);
  }

  settled(): Promise<void> {
    return this.inFlight.catch(() => {});
  }

  /** Write what is still batched, after the stream failed (the chunks themselves arrived whole). */
  salvage(): Promise<void> {
    return this.writeBatch();
  }

  private flush(): Promise<void> {
    this.inFlight = this.writeBatch();
    return this.inFlight;
  }

  private async writeBatch(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const batch = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    const { handle, position, hashes, checkpoint } = this.options;
    const at = position + this.written;
    const { bytesWritten } = await handle.writev(batch, at);
    if (bytesWritten !== bytes) {
      // A short write is a full disk: take back the fragment, so the file never holds bytes the hashes missed.
      await handle.truncate(at);
      throw Object.assign(new Error('short write: the disk is full'), { code: 'ENOSPC' });
    }
    for (const buffer of batch) for (const hash of hashes) hash.update(buffer);
    streamGc.received(bytes);
    this.written += bytes;
    if (checkpoint && !this.checkpointing && this.written - this.lastCheckpoint >= checkpoint.everyBytes) {
      // In the background: writes go on while the disk catches up. fsync covers every byte written before it was
      // called, so the offset taken now is durable once it returns. One at a time; a failure only skips a record.
      const durable = this.written;
      this.lastCheckpoint = durable;
      this.checkpointing = handle
        .datasync()
        .then(() => checkpoint.save(position + durable))
        .catch(() => {})
        .finally(() => (this.checkpointing = undefined));
    }
  }

  /** A checkpoint still being recorded: the final offset must not be overtaken by an older one. */
  async checkpointed(): Promise<void> {
    await this.checkpointing;
  }
}
