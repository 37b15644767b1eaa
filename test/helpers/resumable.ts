import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { storeOf } from '../../src/resumable/store.ts';
import type { TestRelay } from './harness.ts';
import { RawConnection, requestHead } from './raw-http.ts';

/** The resumable endpoint spoken by hand: each request exactly as written, so each protocol rule can be tested. */

export const TUS = { 'tus-resumable': '1.0.0' };
export const ietf = (version: number) => ({ 'upload-draft-interop-version': String(version) });

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

export async function call(
  relay: TestRelay,
  token: string,
  method: string,
  urlPath: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<Answer> {
  const res = await fetch(`${relay.url}${urlPath}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...headers },
    ...(body !== undefined ? { body: new Uint8Array(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** `Upload-Metadata` in tus encoding. */
export function metadata(fields: Record<string, string>): string {
  return Object.entries(fields)
    .map(([k, v]) => `${k} ${Buffer.from(v, 'utf8').toString('base64')}`)
    .join(',');
}

export const b64digest = (algorithm: 'sha256' | 'sha1', bytes: Buffer) => createHash(algorithm).update(bytes).digest('base64');

/** Create a tus upload; returns its path. */
export async function createTus(
  relay: TestRelay,
  token: string,
  length: number | 'defer',
  fields: Record<string, string>,
): Promise<string> {
  const res = await call(relay, token, 'POST', '/api/v1/uploads', {
    ...TUS,
    ...(length === 'defer' ? { 'upload-defer-length': '1' } : { 'upload-length': String(length) }),
    'upload-metadata': metadata(fields),
  });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${JSON.stringify(res.body)}`);
  return res.headers.get('location')!;
}

export function patchTus(relay: TestRelay, token: string, url: string, offset: number, bytes: Buffer, extra: Record<string, string> = {}) {
  return call(
    relay,
    token,
    'PATCH',
    url,
    { ...TUS, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset), ...extra },
    bytes,
  );
}

/** Where the relay keeps an upload's bytes, by the upload's URL or id (the store's own answer). */
export function partPath(relay: TestRelay, urlOrId: string): string {
  return storeOf(relay.services).partPath(urlOrId.split('/').pop()!);
}

export async function partFiles(relay: TestRelay): Promise<string[]> {
  return readdir(storeOf(relay.services).dir).catch(() => []);
}

/**
 * A tus PATCH over a raw connection with only its head sent: the test writes the body at its own pace (to hold the
 * upload's lock, stall, or be killed mid-way). `close` asks for Connection: close, so the raw reader sees a 204 end.
 */
export async function openTusPatch(
  baseUrl: string,
  token: string,
  url: string,
  offset: number,
  length: number,
  close = false,
): Promise<RawConnection> {
  const conn = await RawConnection.open(baseUrl);
  await conn.write(
    requestHead('PATCH', url, {
      Authorization: `Bearer ${token}`,
      'Tus-Resumable': '1.0.0',
      'Content-Type': 'application/offset+octet-stream',
      'Upload-Offset': offset,
      'Content-Length': length,
      ...(close ? { Connection: 'close' } : {}),
    }),
  );
  return conn;
}
