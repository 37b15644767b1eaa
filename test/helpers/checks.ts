import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { residue, type Residue, type TestRelay } from './harness.ts';
import type { RawResponse } from './raw-http.ts';

/** The contract's error answer: exactly `{statusCode, code, error, message}`, JSON, no stack trace. */
export function assertError(res: RawResponse | { status: number; body: any; text?: string } | null | undefined, status: number, code?: string): void {
  assert.ok(res, `expected a ${status} answer, got none (connection closed)`);
  const text = 'text' in res && res.text !== undefined ? res.text : JSON.stringify(res.body);
  assert.equal(res.status, status, `status ${res.status}: ${text}`);
  assert.ok(res.body && typeof res.body === 'object', `error body is not JSON: ${text}`);
  assert.deepEqual(Object.keys(res.body).sort(), ['code', 'error', 'message', 'statusCode'], text);
  assert.equal(res.body.statusCode, status);
  if (code !== undefined) assert.equal(res.body.code, code, text);
  assert.equal(res.body.error, STATUS_CODES[status]);
  assert.equal(typeof res.body.message, 'string');
  assert.doesNotMatch(text, /\bat .+:\d+:\d+|node_modules|\/src\//, 'stack trace or source path in an error body');
  if ('headers' in res && res.headers && !(res.headers instanceof Headers)) {
    assert.match(res.headers['content-type'] ?? '', /^application\/json/);
  }
}

export async function poll<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 5000, stepMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!ok(value) && Date.now() < deadline) {
    await sleep(stepMs);
    value = await read();
  }
  return value;
}

/** Wait until an upload has a temp file in `tmpDir`: proves the bytes reached the spool before the test breaks the request. */
export async function waitForTempFile(tmpDir: string, timeoutMs = 10_000): Promise<void> {
  const files = await poll(
    () => readdir(tmpDir),
    (f) => f.length > 0,
    timeoutMs,
    5,
  );
  assert.ok(files.length > 0, 'the upload never reached the spool');
}

/** Nothing new left behind compared with `before`: no temp file at all, no new blob file, no new row. */
export async function assertNoResidue(relay: TestRelay, before: Residue, timeoutMs = 10_000): Promise<void> {
  const same = (r: Residue) =>
    r.tempFiles.length === 0 &&
    r.blobFiles.length === before.blobFiles.length &&
    r.rows.blobs === before.rows.blobs &&
    r.rows.assets === before.rows.assets &&
    r.rows.deliveries === before.rows.deliveries;
  const after = await poll(() => residue(relay), same, timeoutMs);
  assert.deepEqual(after, { ...before, tempFiles: [] }, 'the request left something behind');
}
