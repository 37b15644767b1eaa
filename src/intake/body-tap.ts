import type { Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * A raw request body as a stream of its own, for the doors whose body is the file (WebDAV PUT, and chunked or
 * resumable uploads to come). The ingest pipeline destroys its source when it rejects content (over the limit, not
 * media): that must not destroy the request, or the client would get a reset instead of the answer. A client that
 * vanishes mid-body ends this stream with an error, so nothing half-received is ever taken as whole.
 * Optionally hashes what flows through, for a checksum the client declared (OC-Checksum).
 */
export function tap(raw: IncomingMessage, hash?: Hash): BodyTap {
  const feed = new BodyTap(hash);
  const abort = () => feed.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  // A request closed before its body was all read (even one fully received: its unread bytes go with it) is cut.
  const cut = () => {
    if (!raw.readableEnded) abort();
  };
  // The client may have gone while the request was being authenticated: a destroyed request emits nothing more,
  // and piping it would leave the upload waiting for ever.
  if (raw.destroyed && !raw.readableEnded) {
    process.nextTick(abort);
    return feed;
  }
  raw.once('error', cut);
  raw.once('close', cut);
  feed.once('close', () => {
    raw.off('error', cut);
    raw.off('close', cut);
  });
  raw.pipe(feed);
  return feed;
}

export class BodyTap extends Transform {
  constructor(private readonly hash?: Hash) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hash?.update(chunk);
    callback(null, chunk);
  }

  digest(): string | undefined {
    return this.hash?.digest('hex');
  }
}
