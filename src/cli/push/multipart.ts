import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { ApiError, CliError, NetworkError } from '../errors.ts';
import { apiErrorFrom } from '../http.ts';
import type { AssetCreated } from '../types.ts';

export interface UploadInput {
  abs: string;
  size: number;
  fields: { deviceAssetId: string; fileName: string; fileCreatedAt?: string; sha256?: string };
}

/** The file changed or vanished while it was being sent: not the relay's fault, and not worth the same retry. */
export class LocalFileError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = 'LocalFileError';
  }
}

const IDLE_TIMEOUT_MS = 120_000;

/** A part's filename parameter, kept to safe ASCII: the real name travels in the fileName field (UTF-8). */
function safeFilename(name: string): string {
  return name.replace(/[^\x20-\x7e]|["\\]/g, '_') || 'file';
}

/**
 * The multipart envelope around the file: text fields first, then the file part's header; and the closing
 * delimiter. Known up front, so the request carries an exact Content-Length and the file streams from disk.
 */
export function envelope(input: UploadInput, boundary = `photo-relay-${randomBytes(12).toString('hex')}`) {
  const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  let head = '';
  for (const [name, value] of Object.entries(input.fields)) if (value !== undefined) head += field(name, value);
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safeFilename(input.fields.fileName)}"\r\n` +
    'Content-Type: application/octet-stream\r\n\r\n';
  const headBuf = Buffer.from(head, 'utf8');
  const tailBuf = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');
  return { boundary, head: headBuf, tail: tailBuf, length: headBuf.length + input.size + tailBuf.length };
}

/**
 * POST /api/v1/assets with the file streamed from disk (never buffered whole). The relay may answer before the
 * body is complete (415 after the first bytes, 413): the answer wins, and the rest of the file is not sent.
 * `onBytes` reports file bytes as they are handed to the socket (negative to take them back on failure).
 */
export function uploadAsset(
  baseUrl: string,
  token: string,
  input: UploadInput,
  options: { agent?: http.Agent; onBytes?: (delta: number) => void } = {},
): Promise<{ status: number; body: AssetCreated }> {
  const url = new URL(`${baseUrl}/api/v1/assets`);
  const transport = url.protocol === 'https:' ? https : http;
  const { boundary, head, tail, length } = envelope(input);
  let sent = 0;
  const count = (n: number) => {
    sent += n;
    options.onBytes?.(n);
  };
  const takeBack = () => {
    if (sent) options.onBytes?.(-sent);
    sent = 0;
  };

  return new Promise((resolve, reject) => {
    let settled = false;
    let responded = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      takeBack();
      reject(err);
    };
    const req = transport.request(url, {
      method: 'POST',
      agent: options.agent,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(length),
      },
    });
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no progress for ${IDLE_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err) => {
      if (!responded) fail(new NetworkError(baseUrl, err));
    });
    req.on('response', (res) => {
      responded = true;
      const chunks: Buffer[] = [];
      const finish = () => {
        if (settled) return;
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          try {
            settled = true;
            resolve({ status, body: JSON.parse(text) as AssetCreated });
          } catch {
            settled = false;
            fail(new ApiError(status, `http_${status}`, 'the relay answered with something that is not JSON'));
          }
        } else {
          fail(apiErrorFrom(status, text, res.headers['retry-after']));
        }
      };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', finish);
      // The relay may close the connection right after an early answer: what arrived is the answer.
      res.on('error', finish);
      res.on('aborted', finish);
    });

    const waitDrain = () =>
      new Promise<void>((done) => {
        const go = () => {
          req.off('drain', go);
          req.off('close', go);
          done();
        };
        req.on('drain', go);
        req.on('close', go);
      });

    (async () => {
      if (!req.write(head)) await waitDrain();
      let read = 0;
      if (input.size > 0) {
        const file = createReadStream(input.abs, { start: 0, end: input.size - 1, highWaterMark: 256 * 1024 });
        try {
          for await (const chunk of file) {
            if (responded || req.destroyed) break;
            read += (chunk as Buffer).length;
            const more = req.write(chunk);
            count((chunk as Buffer).length);
            if (!more) await waitDrain();
          }
        } finally {
          file.destroy();
        }
      }
      if (responded || req.destroyed) return;
      if (read !== input.size) throw new LocalFileError(`the file shrank while it was being sent (${read} of ${input.size} bytes)`);
      req.end(tail);
    })().catch((err: unknown) => {
      if (responded) return;
      req.destroy();
      const code = (err as NodeJS.ErrnoException).code;
      fail(
        err instanceof CliError ? err : new LocalFileError(`cannot read the file${code ? ` (${code})` : ''}: ${(err as Error).message}`),
      );
    });
  });
}
