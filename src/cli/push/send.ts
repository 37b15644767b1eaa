import { createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { CliError, NetworkError } from '../errors.ts';

/** The file changed or vanished while it was being sent: not the relay's fault, and not worth the same retry. */
export class LocalFileError extends CliError {
  constructor(message: string) {
    super(message);
    this.name = 'LocalFileError';
  }
}

export const IDLE_TIMEOUT_MS = 120_000;

export interface FileBody {
  /** Sent before the file's bytes (a multipart envelope's head). */
  head?: Buffer;
  abs: string;
  /** The file's bytes [start, start + length) are sent. */
  start: number;
  length: number;
  /** Sent after them. */
  tail?: Buffer;
}

export interface SendOptions {
  agent?: http.Agent;
  /** File bytes handed to the socket, as they go (negative to take them back when the request fails). */
  onBytes?: (delta: number) => void;
  idleTimeoutMs?: number;
  /** How the relay is named in a NetworkError (default: the URL's origin). */
  relayUrl?: string;
}

export interface Sent {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** File bytes handed to the socket: the caller takes them back with onBytes(-sent) if the answer is a refusal. */
  sent: number;
}

/**
 * One request whose body is a range of a file (or none), streamed from disk (never buffered whole) with an exact
 * Content-Length. The relay may answer before the body is complete (415, 413): the answer wins, and the rest of the
 * file is not sent. Resolves with any answer; rejects with a NetworkError when the connection fails before one
 * arrives (the bytes it counted are taken back), or a LocalFileError when the file cannot be read as announced.
 */
export function sendFile(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: FileBody | undefined,
  options: SendOptions = {},
): Promise<Sent> {
  const transport = url.protocol === 'https:' ? https : http;
  const head = body?.head ?? Buffer.alloc(0);
  const tail = body?.tail ?? Buffer.alloc(0);
  const length = body?.length ?? 0;
  const idleMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  let sent = 0;
  const count = (n: number) => {
    sent += n;
    options.onBytes?.(n);
  };

  return new Promise((resolve, reject) => {
    let settled = false;
    let responded = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      if (sent) options.onBytes?.(-sent);
      sent = 0;
      reject(err);
    };
    const req = transport.request(url, {
      method,
      agent: options.agent,
      // Always an exact length, 0 without a body: Node would otherwise send an empty POST chunked, which says "a body".
      headers: { ...headers, 'content-length': String(head.length + length + tail.length) },
    });
    req.setTimeout(idleMs, () => req.destroy(new Error(`no progress for ${idleMs / 1000} s`)));
    req.on('error', (err) => {
      if (!responded) fail(new NetworkError(options.relayUrl ?? url.origin, err));
    });
    req.on('response', (res) => {
      responded = true;
      const chunks: Buffer[] = [];
      const finish = () => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), sent });
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
      if (head.length && !req.write(head)) await waitDrain();
      let read = 0;
      if (body && length > 0) {
        const file = createReadStream(body.abs, { start: body.start, end: body.start + body.length - 1, highWaterMark: 256 * 1024 });
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
      if (read !== length)
        throw new LocalFileError(`the file shrank while it was being sent (${body!.start + read} of ${body!.start + length} bytes)`);
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
