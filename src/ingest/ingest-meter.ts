import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { type MediaType, SNIFF_BYTES, sniffMedia } from '../media/sniff.ts';
import { ApiError } from '../http/errors.ts';
import { streamGc } from './young-gc.ts';

export interface MeterResult {
  sha256: string;
  size: number;
  media: MediaType;
}

/**
 * Pass-through that hashes, counts and judges the content type from the first bytes as they flow,
 * holding at most SNIFF_BYTES in memory whatever the size of the upload.
 */
export class IngestMeter extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private size = 0;
  private head: Buffer[] = [];
  private headBytes = 0;
  private media: MediaType | null = null;
  private judged = false;
  private digest: string | null = null;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      callback(new ApiError('payload_too_large', `File exceeds the limit of ${this.maxBytes} bytes`));
      return;
    }
    this.hash.update(chunk);
    streamGc.received(chunk.length);
    if (this.judged) {
      callback(null, chunk);
      return;
    }
    // Hold the first bytes back until the type is known, so nothing of a rejected file reaches the disk.
    this.head.push(chunk);
    this.headBytes += chunk.length;
    if (this.headBytes < SNIFF_BYTES) {
      callback();
      return;
    }
    this.judge().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    const done = () => {
      this.digest = this.hash.digest('hex');
      callback();
    };
    if (this.judged) {
      done();
      return;
    }
    this.judge().then(done, callback);
  }

  /** The content's hash, known once every byte went through (by 'end'), while the sink may still be writing them. */
  get sha256(): string | null {
    return this.digest;
  }

  private async judge(): Promise<void> {
    this.judged = true;
    const head = Buffer.concat(this.head);
    this.head = [];
    this.media = head.length > 0 ? await sniffMedia(head) : null;
    if (!this.media) {
      throw new ApiError('unsupported_media_type', 'The content is not a photo or video format Google Photos accepts');
    }
    this.push(head);
  }

  result(): MeterResult {
    if (!this.media || !this.digest) throw new Error('IngestMeter.result() before the stream finished');
    return { sha256: this.digest, size: this.size, media: this.media };
  }
}
