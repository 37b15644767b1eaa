import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import http from 'node:http';
import type { MediaFile } from './media-files.ts';

export interface UploadResult {
  status: number;
  body: any;
  /** From the first byte sent to the last byte of the answer. */
  seconds: number;
}

const READ_CHUNK = 512 * 1024;

/**
 * Read buffers, reused across uploads (two per upload in flight). A fresh buffer per read, as createReadStream
 * allocates, made V8's external-memory heuristics run major collections ever more often: over four rounds of 1,500
 * photos this client's CPU per upload went 1.4 → 1.1 → 2.5 → 4.4 ms with no heap growth, most of it in concurrent
 * marking, and on 2 cores that CPU came out of the server being measured, more so in the later runs of a part.
 */
const spare: Buffer[] = [];
const takeBuffer = () => spare.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK);

/**
 * Write `data` (or end the body with it) and wait until the socket has taken it: only then may its buffer be reused.
 * A request closed first (the server answered early, the connection broke) fails it, rather than leaving it waiting
 * for a callback that may never come.
 */
function send(req: http.ClientRequest, data: Buffer, last = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const closed = () => reject(new Error('the request closed before its body was sent'));
    req.once('close', closed);
    const done = (err?: Error | null) => {
      req.off('close', closed);
      if (err) reject(err);
      else resolve();
    };
    if (last) req.end(data, () => done());
    else req.write(data, done);
  });
}

/** The head, the file (read into two buffers in turn: the next read runs while the last one is sent), the tail. */
async function sendBody(req: http.ClientRequest, path: string, head: Buffer, tail: Buffer): Promise<void> {
  const handle = await open(path, 'r');
  const buffers = [takeBuffer(), takeBuffer()];
  let sending: Promise<void> = Promise.resolve();
  try {
    await send(req, head);
    for (let i = 0; ; i++) {
      const buffer = buffers[i % 2]!;
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      await sending;
      if (bytesRead === 0) break;
      sending = send(req, buffer.subarray(0, bytesRead));
      // Not awaited until the next read is done; a failure must not go unhandled meanwhile.
      sending.catch(() => {});
    }
    await send(req, tail, true);
  } finally {
    // A buffer goes back only once no write of it is pending.
    await sending.catch(() => {});
    await handle.close();
    spare.push(...buffers);
  }
}

/**
 * POST one file as multipart/form-data over node:http: the text fields, then the file part read from disk into
 * reused buffers, with an exact Content-Length. Neither side ever holds the file in memory.
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
    const failed = (err: unknown) => {
      if (!answered) reject(err);
    };
    req.on('error', failed);
    sendBody(req, file.path, headBytes, tailBytes).catch((err: unknown) => {
      req.destroy();
      failed(err);
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
