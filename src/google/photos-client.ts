import type { Readable } from 'node:stream';
import { classifyHttpError, classifyItemStatus, classifyNetworkError, GoogleError, RequestCutShort, type ItemOutcome } from './outcomes.ts';
import { CLOSING_MESSAGE, RequestWatchdog } from './request-watchdog.ts';

/** Bytes to send, re-openable from any offset: a retried or resumed request reads the blob again. */
export interface UploadSource {
  size: number;
  mimeType: string;
  fileName: string;
  open(range?: { start: number; end: number }): Readable;
  /** The whole file in one buffer: a raw upload of a small file sends this instead of a stream (SMALL_BODY_BYTES). */
  read?(): Promise<Buffer>;
}

export interface AccessTokens {
  get(): Promise<string>;
  /** The API refused the token: the next get() must fetch a fresh one. */
  invalidate(): void;
}

export interface ResumableSession {
  url: string;
  granularity: number;
}

export interface PhotosClientOptions {
  apiUrl: string;
  tokens: AccessTokens;
  /** Runs before every request Google counts against the daily quota; throws to refuse it. */
  beforeRequest: (endpoint: string) => Promise<void>;
  /** Preferred resumable chunk size; rounded down to a multiple of the granularity Google announces. */
  chunkBytes?: number;
  /** A request making no progress this long is abandoned as transient (RequestWatchdog); default 60 s. */
  idleTimeoutMs?: number;
  /** Whole-request limit of the small requests (everything but a streamed body); default 120 s. */
  timeoutMs?: number;
  /** Fires when the worker closes: requests in flight are abandoned (transient, retried later), no new one is sent. */
  closing?: AbortSignal;
  /** Told of every request made, with its HTTP status (0 when no answer came). */
  observe?: (endpoint: string, status: number) => void;
}

export interface NewItem {
  uploadToken: string;
  fileName: string;
  description?: string;
}

const DEFAULT_CHUNK = 16 * 1024 * 1024;
/**
 * A raw upload up to this size goes as one buffer: a stream through fetch costs a file stream, the watchdog's
 * iterator and a web stream that copies each chunk, which for a photo of a few hundred KiB was most of the worker's
 * CPU per upload (bench e at 100 ms per call). Held at once: one per job the window admits (prefetched), each this size.
 */
const SMALL_BODY_BYTES = 1024 * 1024;

/** Whether a raw upload of `src` sends it as one buffer (read()) rather than a stream (open()). */
export function sentWhole(src: UploadSource): boolean {
  return src.read !== undefined && src.size <= SMALL_BODY_BYTES;
}
const DEFAULT_IDLE_MS = 60_000;
const DEFAULT_DEADLINE_MS = 120_000;

/** A request as the methods describe it; send() adds the token and the watchdog. */
interface Outgoing {
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: Readable | string | Buffer;
}

interface BatchCreateAnswer {
  newMediaItemResults?: { uploadToken?: string; status?: { code?: number; message?: string }; mediaItem?: { id?: string } }[];
}

async function readToken(res: Response): Promise<string> {
  const token = (await res.text()).trim();
  if (!token) throw new GoogleError('transient', 'upload answered without an upload token');
  return token;
}

/** The answer is in the headers: read (and discard) the body, so the connection can be reused. */
async function headersOnly(res: Response): Promise<Response> {
  await res.arrayBuffer();
  return res;
}

/** The Photos Library API calls the relay makes, speaking to Google or the emulator alike: only apiUrl differs. */
export class PhotosClient {
  constructor(private readonly opts: PhotosClientOptions) {}

  /**
   * One request, read by `read` under the request's watchdog (see RequestWatchdog): a peer that stops taking bytes
   * or answering is left after the idle timeout, and closing abandons it at once. 401 refreshes the access token
   * and tries once more. Non-2xx answers (unless `expectOk` is false) become classified GoogleErrors.
   */
  private async send<T>(endpoint: string, url: string, init: () => Outgoing | Promise<Outgoing>, read: (res: Response) => Promise<T>, expectOk = true): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      // Closing: nothing new goes out, and no quota is spent on a request that would be cut at once.
      if (this.opts.closing?.aborted) throw classifyNetworkError(new RequestCutShort('closing', CLOSING_MESSAGE));
      await this.opts.beforeRequest(endpoint);
      const token = await this.opts.tokens.get();
      // A body read in one piece (a small file) fails here as a stream's would while sent: as a transient cut.
      const request = await Promise.resolve()
        .then(init)
        .catch((err: unknown) => {
          throw classifyNetworkError(err);
        });
      const streamed = request.body !== undefined && typeof request.body !== 'string' && !Buffer.isBuffer(request.body);
      const watchdog = new RequestWatchdog(
        { idleMs: this.opts.idleTimeoutMs ?? DEFAULT_IDLE_MS, ...(streamed ? {} : { deadlineMs: this.opts.timeoutMs ?? DEFAULT_DEADLINE_MS }) },
        this.opts.closing,
      );
      let outcome: { res: Response; value?: T; text?: string };
      let answered = false;
      try {
        const res = await fetch(url, {
          method: request.method,
          headers: { ...request.headers, authorization: `Bearer ${token}` },
          signal: watchdog.signal,
          ...(streamed ? { body: watchdog.track(request.body as Readable) as unknown as BodyInit, duplex: 'half' } : { body: request.body }),
        } as RequestInit);
        watchdog.progress();
        answered = true;
        this.opts.observe?.(endpoint, res.status);
        outcome = res.ok || !expectOk ? { res, value: await read(res) } : { res, text: await res.text().catch(() => '') };
      } catch (err) {
        if (!answered) this.opts.observe?.(endpoint, 0);
        throw err instanceof GoogleError ? err : classifyNetworkError(err);
      } finally {
        watchdog.done();
      }
      const { res } = outcome;
      if (outcome.text === undefined) return outcome.value as T;
      const error = classifyHttpError(res.status, outcome.text, res.headers);
      if (error.outcome === 'unauthenticated' && attempt === 0) {
        this.opts.tokens.invalidate();
        continue;
      }
      throw error.outcome === 'unauthenticated' ? new GoogleError('reauth', error.message, error.details) : error;
    }
  }

  private uploadHeaders(src: UploadSource): Record<string, string> {
    return {
      'x-goog-upload-content-type': src.mimeType,
      // Header values must be Latin-1; a name outside it is percent-encoded rather than refused.
      'x-goog-upload-file-name': encodeURIComponent(src.fileName).replace(/%20/g, ' '),
    };
  }

  /** Raw upload: the whole file in one request; answers the upload token. */
  async uploadRaw(src: UploadSource): Promise<string> {
    return this.send('upload', `${this.opts.apiUrl}/v1/uploads`, async () => ({
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(src.size),
        'x-goog-upload-protocol': 'raw',
        ...this.uploadHeaders(src),
      },
      body: sentWhole(src) ? await src.read!() : src.open(),
    }), readToken);
  }

  async startResumable(src: UploadSource): Promise<ResumableSession> {
    const res = await this.send('upload', `${this.opts.apiUrl}/v1/uploads`, () => ({
      method: 'POST',
      headers: {
        'content-length': '0',
        'x-goog-upload-command': 'start',
        'x-goog-upload-protocol': 'resumable',
        'x-goog-upload-raw-size': String(src.size),
        ...this.uploadHeaders(src),
      },
    }), headersOnly);
    const url = res.headers.get('x-goog-upload-url');
    const granularity = Number(res.headers.get('x-goog-upload-chunk-granularity') ?? 262_144);
    if (!url) throw new GoogleError('transient', 'resumable start answered without X-Goog-Upload-URL');
    return { url, granularity: granularity > 0 ? granularity : 262_144 };
  }

  /** Where a session stands after a cut: how many bytes Google holds, or null when the session is gone. */
  async queryResumable(session: ResumableSession): Promise<number | null> {
    const res = await this.send('uploadQuery', session.url, () => ({ method: 'POST', headers: { 'content-length': '0', 'x-goog-upload-command': 'query' } }), headersOnly, false);
    if (res.status === 404 || res.status === 410 || res.status === 400) return null;
    if (!res.ok) throw classifyHttpError(res.status, '', res.headers);
    const status = res.headers.get('x-goog-upload-status');
    const received = Number(res.headers.get('x-goog-upload-size-received'));
    if (status !== 'active' || !Number.isFinite(received)) return null;
    return received;
  }

  /** Send the bytes from `offset` on in granularity-aligned chunks; the last chunk finalizes and yields the upload token. */
  async continueResumable(session: ResumableSession, src: UploadSource, offset: number, onChunk?: (offset: number) => Promise<void>): Promise<string> {
    const chunk = Math.max(session.granularity, Math.floor((this.opts.chunkBytes ?? DEFAULT_CHUNK) / session.granularity) * session.granularity);
    let position = offset;
    for (;;) {
      const end = Math.min(src.size, position + chunk);
      const last = end >= src.size;
      const start = position;
      const token = await this.send('uploadChunk', session.url, () => ({
        method: 'POST',
        headers: {
          'content-length': String(end - start),
          'x-goog-upload-command': last ? 'upload, finalize' : 'upload',
          'x-goog-upload-offset': String(start),
        },
        body: end > start ? src.open({ start, end: end - 1 }) : '',
      }), async (res) => (last ? readToken(res) : (await headersOnly(res), null)));
      if (token !== null) return token;
      position = end;
      await onChunk?.(position);
    }
  }

  /** Create up to 50 media items; every item gets its own outcome. */
  async batchCreate(items: NewItem[], albumId?: string): Promise<ItemOutcome[]> {
    if (items.length === 0 || items.length > 50) throw new Error(`batchCreate takes 1 to 50 items, not ${items.length}`);
    const body = await this.send('batchCreate', `${this.opts.apiUrl}/v1/mediaItems:batchCreate`, () => ({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        ...(albumId ? { albumId } : {}),
        newMediaItems: items.map((i) => ({ ...(i.description ? { description: i.description } : {}), simpleMediaItem: { uploadToken: i.uploadToken, fileName: i.fileName } })),
      }),
    }), async (res) => (await res.json()) as BatchCreateAnswer);
    const results = body.newMediaItemResults ?? [];
    // Match results to items by upload token when Google echoes it, else by position.
    return items.map((item, index) => {
      const result = results.find((r) => r.uploadToken === item.uploadToken) ?? results[index];
      if (!result) return { kind: 'error', error: new GoogleError('transient', 'batchCreate answered without a result for this item') };
      return classifyItemStatus(result.status?.code, result.status?.message, result.mediaItem?.id);
    });
  }
}
