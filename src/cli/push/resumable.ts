import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { ApiError } from '../errors.ts';
import { apiErrorFrom, isRetryable, withRetries, type RetryPolicy } from '../http.ts';
import type { UploadInput } from './multipart.ts';
import { LocalFileError, sendFile, type Sent } from './send.ts';

/** Files from this size up go through the resumable endpoint (below it one multipart request is cheaper). */
export const DEFAULT_RESUMABLE_THRESHOLD = 32 * 1024 * 1024;
/** The longest PATCH the CLI sends, unless the relay advertises a smaller max-append-size. */
export const MAX_PATCH_BYTES = 64 * 1024 * 1024;

const TUS = { 'tus-resumable': '1.0.0' };

/**
 * What the relay's resumable endpoint says of itself (OPTIONS, tus discovery): null when it does not speak tus (an
 * older relay), else the largest append it wants (Upload-Limit max-append-size).
 */
export async function discoverResumable(baseUrl: string, agent?: http.Agent): Promise<{ maxAppendBytes: number } | null> {
  const res = await sendFile(new URL(`${baseUrl}/api/v1/uploads`), 'OPTIONS', TUS, undefined, { agent, relayUrl: baseUrl });
  if (res.status >= 300 || !String(res.headers['tus-version'] ?? '').includes('1.0.0')) return null;
  const limit = /max-append-size=(\d+)/.exec(String(res.headers['upload-limit'] ?? ''))?.[1];
  return { maxAppendBytes: limit ? Math.min(MAX_PATCH_BYTES, Math.max(1, Number(limit))) : MAX_PATCH_BYTES };
}

export interface ResumableOptions {
  agent?: http.Agent;
  /** File bytes on their way (negative to take back what a failed request had sent), then the relay's offset. */
  onBytes?: (delta: number) => void;
  /** Bytes per PATCH at most. */
  patchBytes: number;
  /** Send a SHA-256 of each PATCH (tus Upload-Checksum): the relay keeps none of a PATCH that does not match it. */
  checksum?: boolean;
  policy: RetryPolicy;
  /** Said when an upload goes on from the relay's offset after a failure. */
  onResume?: (offset: number, size: number) => void;
}

/**
 * One file through the resumable endpoint (tus 1.0): a creation, then PATCHes of at most `patchBytes` streamed from
 * disk. After a failure (connection cut, timeout, 5xx, 423 while the relay still holds the cut request's lock, 409
 * for an offset it no longer has) it asks the relay for its offset (HEAD) and goes on from there: bytes the relay
 * holds are never sent again. Retries are bounded, but the count starts again whenever the relay's offset moved
 * forward. The upload's URL lives as long as this object, so running it again resumes the same upload.
 */
export class ResumableUpload {
  /** The upload's URL, once created. */
  url: URL | undefined;
  /** Bytes the relay holds (its last Upload-Offset). */
  offset = 0;
  private assetId: string | undefined;
  private recreated = false;

  constructor(
    readonly baseUrl: string,
    readonly token: string,
    readonly input: UploadInput,
    readonly options: ResumableOptions,
  ) {}

  /** Upload to the end; resolves with the asset's id. */
  run(what: string): Promise<{ assetId: string }> {
    // After a failure, or when this upload was run before, the relay's offset is the truth: ask for it first.
    return withRetries(what, 'always', this.options.policy, (n) => this.attempt(n > 0 || this.url !== undefined), {
      retryable: (err) =>
        isRetryable(err, 'always') ||
        // 409: our offset is behind the relay's or ahead of it; 423: the relay still runs the request we lost; 460:
        // bytes damaged on the way. Each is mended by asking for the offset again.
        (err instanceof ApiError && (err.status === 409 || err.status === 423 || err.status === 460)),
      progress: () => this.offset,
    });
  }

  private async attempt(resync: boolean): Promise<{ assetId: string }> {
    if (!this.url) await this.create();
    else if (resync) {
      await this.head();
      if (!this.assetId) this.options.onResume?.(this.offset, this.input.size);
    }
    while (!this.assetId) await this.patch();
    return { assetId: this.assetId };
  }

  private headers(): Record<string, string> {
    return { ...TUS, authorization: `Bearer ${this.token}` };
  }

  private relayError(res: Sent): ApiError {
    return apiErrorFrom(res.status, res.text, res.headers['retry-after']);
  }

  /** Move the progress to what the relay holds. */
  private setOffset(offset: number): void {
    this.options.onBytes?.(offset - this.offset);
    this.offset = offset;
  }

  private async create(): Promise<void> {
    const { fields, size } = this.input;
    const metadata = Object.entries(fields)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k} ${Buffer.from(v!, 'utf8').toString('base64')}`)
      .join(',');
    const res = await sendFile(
      new URL(`${this.baseUrl}/api/v1/uploads`),
      'POST',
      { ...this.headers(), 'upload-length': String(size), 'upload-metadata': metadata },
      undefined,
      { agent: this.options.agent, relayUrl: this.baseUrl },
    );
    const location = res.headers.location;
    if (res.status !== 201 || !location) throw this.relayError(res);
    // The Location is a path: keep the base URL's own path (a relay behind a reverse proxy at /relay/).
    this.url = location.startsWith('/') ? new URL(this.baseUrl + location) : new URL(location);
    this.setOffset(0);
  }

  /** Ask the relay for its offset. An upload it no longer has (expired, removed) is started again, once. */
  private async head(): Promise<void> {
    const res = await sendFile(this.url!, 'HEAD', this.headers(), undefined, { agent: this.options.agent, relayUrl: this.baseUrl });
    if (res.status === 404 && !this.recreated) {
      this.recreated = true;
      this.url = undefined;
      this.setOffset(0);
      await this.create();
      return;
    }
    if (res.status !== 200) throw this.relayError(res);
    this.setOffset(Number(res.headers['upload-offset']));
    const assetId = res.headers['x-asset-id'];
    if (typeof assetId === 'string' && this.offset === this.input.size) this.assetId = assetId;
  }

  private async patch(): Promise<void> {
    const { abs, size } = this.input;
    const start = this.offset;
    const length = Math.min(this.options.patchBytes, size - start);
    const checksum: Record<string, string> = this.options.checksum
      ? { 'upload-checksum': `sha256 ${await digest(abs, start, length)}` }
      : {};
    const res = await sendFile(
      this.url!,
      'PATCH',
      { ...this.headers(), 'content-type': 'application/offset+octet-stream', 'upload-offset': String(start), ...checksum },
      { abs, start, length },
      { agent: this.options.agent, onBytes: this.options.onBytes, relayUrl: this.baseUrl },
    );
    // What the request counted goes; the relay's offset says what it holds.
    if (res.sent) this.options.onBytes?.(-res.sent);
    if (res.status !== 204) throw this.relayError(res);
    const offset = Number(res.headers['upload-offset']);
    if (!Number.isSafeInteger(offset) || offset < start || offset > size)
      throw new ApiError(res.status, 'http_204', `the relay answered an impossible Upload-Offset (${res.headers['upload-offset']})`);
    this.setOffset(offset);
    const assetId = res.headers['x-asset-id'];
    if (typeof assetId === 'string') this.assetId = assetId;
    else if (offset === size) throw new ApiError(res.status, 'http_204', 'the relay took the whole file but named no asset');
  }
}

/** The SHA-256 of a range of the file, base64 (tus Upload-Checksum). */
async function digest(abs: string, start: number, length: number): Promise<string> {
  const hash = createHash('sha256');
  let read = 0;
  if (length > 0) {
    await pipeline(createReadStream(abs, { start, end: start + length - 1, highWaterMark: 256 * 1024 }), async function (source) {
      for await (const chunk of source) {
        read += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
      }
    }).catch((err: NodeJS.ErrnoException) => {
      throw new LocalFileError(`cannot read the file${err.code ? ` (${err.code})` : ''}: ${err.message}`);
    });
  }
  if (read !== length) throw new LocalFileError(`the file shrank while it was being sent (${start + read} of ${start + length} bytes)`);
  return hash.digest('base64');
}
