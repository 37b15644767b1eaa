import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import { ApiError } from '../errors.ts';
import { apiErrorFrom } from '../http.ts';
import type { AssetCreated } from '../types.ts';
import { sendFile } from './send.ts';

export interface UploadInput {
  abs: string;
  size: number;
  fields: { deviceAssetId: string; fileName: string; fileCreatedAt?: string; sha256?: string };
}

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
export async function uploadAsset(
  baseUrl: string,
  token: string,
  input: UploadInput,
  options: { agent?: http.Agent; onBytes?: (delta: number) => void } = {},
): Promise<{ status: number; body: AssetCreated }> {
  const { boundary, head, tail } = envelope(input);
  const res = await sendFile(
    new URL(`${baseUrl}/api/v1/assets`),
    'POST',
    { authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': `multipart/form-data; boundary=${boundary}` },
    { head, abs: input.abs, start: 0, length: input.size, tail },
    { ...options, relayUrl: baseUrl },
  );
  const takeBack = () => res.sent && options.onBytes?.(-res.sent);
  if (res.status < 200 || res.status >= 300) {
    takeBack();
    throw apiErrorFrom(res.status, res.text, res.headers['retry-after']);
  }
  try {
    return { status: res.status, body: JSON.parse(res.text) as AssetCreated };
  } catch {
    takeBack();
    throw new ApiError(res.status, `http_${res.status}`, 'the relay answered with something that is not JSON');
  }
}
