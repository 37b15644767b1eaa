import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** HTTP/1.1 by hand over `node:net`, for what fetch cannot do: lie about lengths, trickle, cut or reset mid-body. */

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
  /** Parsed JSON, or undefined when the body is not JSON. */
  body: any;
}

export class RawConnection {
  private received = Buffer.alloc(0);
  private settle!: (res: RawResponse | null) => void;
  /** Bytes handed to the socket by this test so far. */
  bytesWritten = 0;
  /** `bytesWritten` when the response was complete. */
  bytesWrittenAtResponse: number | undefined;
  error: Error | undefined;
  /** A complete response, or null when the server closed the connection without one. */
  readonly response: Promise<RawResponse | null>;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    this.response = new Promise((resolve) => (this.settle = resolve));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      const parsed = parseResponse(this.received, false);
      if (parsed) this.done(parsed);
    });
    socket.on('error', (err) => (this.error = err));
    socket.once('close', () => this.done(parseResponse(this.received, true)));
  }

  private done(res: RawResponse | null): void {
    if (res && this.bytesWrittenAtResponse === undefined) this.bytesWrittenAtResponse = this.bytesWritten;
    this.settle(res);
  }

  static open(baseUrl: string): Promise<RawConnection> {
    const { hostname, port } = new URL(baseUrl);
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: hostname, port: Number(port) }, () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
      socket.once('error', reject);
    });
  }

  get writable(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  /** Write and wait for the socket to take it; false once the server has closed or reset the connection. */
  async write(data: string | Buffer): Promise<boolean> {
    if (!this.writable) return false;
    const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.bytesWritten += buf.length;
    const flushed = this.socket.write(buf);
    if (!flushed) {
      await new Promise<void>((resolve) => {
        const finish = () => {
          this.socket.off('drain', finish);
          this.socket.off('close', finish);
          resolve();
        };
        this.socket.once('drain', finish);
        this.socket.once('close', finish);
      });
    }
    return this.writable;
  }

  /** Write `data` in `chunkSize` slices with `delayMs` between them; stops early when the server answers or closes. */
  async trickle(data: Buffer, chunkSize: number, delayMs: number, encode: (b: Buffer) => Buffer = (b) => b): Promise<void> {
    let answered = false;
    void this.response.then(() => (answered = true));
    for (let offset = 0; offset < data.length && !answered; offset += chunkSize) {
      if (!(await this.write(encode(data.subarray(offset, offset + chunkSize))))) return;
      if (delayMs > 0) await sleep(delayMs);
    }
  }

  /** Wait for the response, or give up after `ms` (undefined). */
  async responseWithin(ms: number): Promise<RawResponse | null | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
    try {
      return await Promise.race([this.response, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The final response in what the server sent (after any 1xx interim ones); null while it is not all there. */
export function parseResponse(buf: Buffer, final: boolean): RawResponse | null {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const [statusLine, ...lines] = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(statusLine!.split(' ')[1]);
  if (status >= 100 && status < 200) return parseResponse(buf.subarray(headEnd + 4), final);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let rest = buf.subarray(headEnd + 4);
  if (headers['transfer-encoding']?.includes('chunked')) {
    const out: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      if (lineEnd < 0) return final ? finish(status, headers, Buffer.concat(out)) : null;
      const size = parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
      if (size === 0) return finish(status, headers, Buffer.concat(out));
      if (rest.length < lineEnd + 2 + size + 2) return final ? finish(status, headers, Buffer.concat(out)) : null;
      out.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
  }
  const length = headers['content-length'] !== undefined ? Number(headers['content-length']) : undefined;
  if (length !== undefined && rest.length >= length) return finish(status, headers, rest.subarray(0, length));
  return final ? finish(status, headers, rest) : null;
}

function finish(status: number, headers: Record<string, string>, body: Buffer): RawResponse {
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status, headers, text, body: parsed };
}

/** Encode one slice as an HTTP/1.1 chunk. */
export function chunk(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
}
export const LAST_CHUNK = '0\r\n\r\n';

export function requestHead(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export interface Part {
  name: string;
  value: string | Buffer;
  /** Makes it a file part. */
  filename?: string;
  contentType?: string;
  /** Raw header lines added to the part, before Content-Disposition unless `headersLast`. */
  extraHeaders?: string[];
  headersLast?: boolean;
}

export interface MultipartBody {
  boundary: string;
  contentType: string;
  body: Buffer;
}

/** A multipart/form-data body, in exactly the order and shape given (fetch's FormData would tidy it up). */
export function multipart(parts: Part[]): MultipartBody {
  const boundary = `----relay-test-${randomBytes(8).toString('hex')}`;
  const pieces: Buffer[] = [];
  for (const part of parts) {
    const disposition = `Content-Disposition: form-data; name="${part.name}"${part.filename !== undefined ? `; filename="${part.filename}"` : ''}`;
    const type = part.contentType ?? (part.filename !== undefined ? 'application/octet-stream' : undefined);
    const own = [disposition, ...(type ? [`Content-Type: ${type}`] : [])];
    const extra = part.extraHeaders ?? [];
    const headers = part.headersLast ? [...own, ...extra] : [...extra, ...own];
    pieces.push(Buffer.from(`--${boundary}\r\n${headers.join('\r\n')}\r\n\r\n`, 'utf8'));
    pieces.push(typeof part.value === 'string' ? Buffer.from(part.value, 'utf8') : part.value);
    pieces.push(Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return { boundary, contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(pieces) };
}

/** Send a whole request at once over a raw socket and wait for its answer (or null if the server closed without one). */
export async function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string | number>,
  body: Buffer | string = Buffer.alloc(0),
): Promise<RawResponse | null> {
  const conn = await RawConnection.open(baseUrl);
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  await conn.write(requestHead(method, path, { 'Content-Length': buf.length, Connection: 'close', ...headers }));
  await conn.write(buf);
  const res = await conn.response;
  conn.socket.destroy();
  return res;
}
