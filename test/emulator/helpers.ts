import type { TestContext } from 'node:test';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../src/emulator/server.ts';

export const SCOPES = {
  append: 'https://www.googleapis.com/auth/photoslibrary.appendonly',
  read: 'https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata',
};
export const FULL_SCOPE = `openid email ${SCOPES.append} ${SCOPES.read}`;
export const CLIENT = { id: 'photo-relay-demo', secret: 'demo-secret' };
export const REDIRECT = 'http://127.0.0.1:9999/oauth/callback';

/**
 * A fresh emulator on a random port, closed when the test ends. batchCreate's minimum hold (there to make overlaps
 * observable) is off unless a test asks for it, to keep the suite fast.
 */
export async function emulator(t: TestContext, options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const em = await startEmulator({ port: 0, batchCreateMinHoldMs: 0, ...options });
  t.after(() => em.close());
  return em;
}

export function authUrl(base: string, params: Record<string, string> = {}): string {
  const u = new URL('/o/oauth2/v2/auth', base);
  const defaults = {
    client_id: CLIENT.id,
    redirect_uri: REDIRECT,
    response_type: 'code',
    scope: FULL_SCOPE,
    state: 'xyz',
    access_type: 'offline',
    prompt: 'consent',
  };
  for (const [k, v] of Object.entries({ ...defaults, ...params })) if (v !== '') u.searchParams.set(k, v);
  return u.toString();
}

/** Follows the consent redirect by hand (as the relay's callback would) and returns the redirect's query. */
export async function authorize(base: string, params: Record<string, string> = {}): Promise<URLSearchParams> {
  const res = await fetch(authUrl(base, params), { redirect: 'manual' });
  if (res.status !== 302) throw new Error(`consent answered ${res.status}: ${await res.text()}`);
  return new URL(res.headers.get('location')!).searchParams;
}

export function form(fields: Record<string, string>): RequestInit {
  return { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() };
}

export interface Tokens {
  access_token: string;
  refresh_token?: string;
  id_token?: string;
  scope: string;
  expires_in: number;
  token_type: string;
}

/** The whole code flow for one account: consent, then code exchange. */
export async function link(base: string, opts: { email?: string; scope?: string } = {}): Promise<Tokens> {
  const q = await authorize(base, { ...(opts.email ? { login_hint: opts.email } : {}), ...(opts.scope ? { scope: opts.scope } : {}) });
  const res = await fetch(
    `${base}/token`,
    form({ grant_type: 'authorization_code', code: q.get('code')!, redirect_uri: REDIRECT, client_id: CLIENT.id, client_secret: CLIENT.secret }),
  );
  if (res.status !== 200) throw new Error(`token exchange answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as Tokens;
}

/** fetch's BodyInit typing wants an ArrayBuffer-backed view; Buffers may sit on a shared pool. */
export const bytesBody = (b: Buffer): Uint8Array<ArrayBuffer> => Uint8Array.from(b);

export function rawUploadHeaders(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    authorization: `Bearer ${token}`,
    'content-type': 'application/octet-stream',
    'x-goog-upload-protocol': 'raw',
    'x-goog-upload-content-type': 'image/jpeg',
    'x-goog-upload-file-name': 'IMG_0001.jpg',
    ...extra,
  };
}

export function uploadRaw(base: string, token: string, bytes: Buffer, extra: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/v1/uploads`, { method: 'POST', headers: rawUploadHeaders(token, extra), body: bytesBody(bytes) });
}

/** Uploads and returns the upload token, failing the test on anything but 200. */
export async function uploadToken(base: string, token: string, bytes: Buffer, fileName = 'IMG_0001.jpg'): Promise<string> {
  const res = await uploadRaw(base, token, bytes, { 'x-goog-upload-file-name': fileName });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`upload answered ${res.status}: ${body}`);
  return body;
}

export function batchCreate(base: string, token: string, body: unknown): Promise<Response> {
  return fetch(`${base}/v1/mediaItems:batchCreate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export const items = (...entries: [uploadToken: string, fileName: string][]) => ({
  newMediaItems: entries.map(([uploadToken, fileName]) => ({ simpleMediaItem: { uploadToken, fileName } })),
});

export async function control(base: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${base}/emulator/${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`control ${method} ${path} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

export const stats = (base: string) => control(base, 'GET', 'stats');
export const faults = (base: string, rules: unknown[]) => control(base, 'POST', 'faults', { rules });
export const configure = (base: string, patch: Record<string, unknown>) => control(base, 'PATCH', 'config', patch);
export const libraryItems = async (base: string, email: string) => (await control(base, 'GET', `libraries/${encodeURIComponent(email)}/items`)).items;

export function decodeJwtPayload(jwt: string): Record<string, unknown> {
  const [, payload] = jwt.split('.');
  return JSON.parse(Buffer.from(payload!, 'base64url').toString());
}
