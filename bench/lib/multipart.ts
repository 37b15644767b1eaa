import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MediaFile } from './media-files.ts';

export interface UploadResult {
  status: number;
  body: any;
  /** From the first byte sent to the last byte of the answer. */
  seconds: number;
}

const READ_CHUNK = 1024 * 1024;

/**
 * POST one file as multipart/form-data over node:http: the text fields, then the file part streamed from disk
 * (fs.createReadStream), with an exact Content-Length. Neither side ever holds the file in memory.
 */
export function uploadMultipart(
  url: string,
  file: MediaFile,
  options: { token?: string; fields?: Record<string, string>; agent?: http.Agent } = {},
): Promise<UploadResult> {
  const boundary = `----photorelaybench${randomBytes(12).toString('hex')}`;
  let head = '';
  for (const [name, value] of Object.entries(options.fields ?? {})) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: ${file.mimeType}\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const headBytes = Buffer.from(head);
  const tailBytes = Buffer.from(tail);
  const length = headBytes.length + file.size + tailBytes.length;

  async function* body() {
    yield headBytes;
    yield* createReadStream(file.path, { highWaterMark: READ_CHUNK });
    yield tailBytes;
  }

  return new Promise((resolve, reject) => {
    const started = performance.now();
    let answered = false;
    const req = http.request(url, {
      method: 'POST',
      agent: options.agent ?? false,
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(length),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      },
    });
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* keep the text */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, seconds: (performance.now() - started) / 1000 });
      });
    });
    // A server answering early (an error) may cut the body short: only fail when no answer came.
    pipeline(Readable.from(body()), req).catch((err: unknown) => {
      if (!answered) reject(err);
    });
  });
}

/** Run `fn` over `items` with at most `concurrency` at a time, in order of index. */
export async function pool<T>(items: T[], concurrency: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index]!, index);
    }
  });
  await Promise.all(lanes);
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
