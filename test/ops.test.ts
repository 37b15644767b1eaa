import assert from 'node:assert/strict';
import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { BlobStore } from '../src/ingest/blob-store.ts';
import { assertError, poll, waitForTempFile } from './helpers/checks.ts';
import { ChildRelay, freePort, killAll } from './helpers/child.ts';
import { Client } from './helpers/client.ts';
import { isolate, startRelay, type Isolation, type TestRelay } from './helpers/harness.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { multipart, RawConnection, rawRequest, requestHead } from './helpers/raw-http.ts';

after(killAll);

describe('health and readiness', () => {
  let relay: TestRelay;
  before(async () => {
    relay = await startRelay();
  });
  after(() => relay?.close());

  it('/healthz answers 200', async () => {
    const res = await fetch(`${relay.url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  it('/readyz answers 200, and 503 not_ready naming the dependency (no internal text) while the spool cannot take a file', async () => {
    const ready = await fetch(`${relay.url}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal((await ready.json()).status, 'ready');

    // Tests run as root, whom chmod does not stop: put a file where the temp directory should be.
    const { tmpDir } = relay.services.blobs;
    await rm(tmpDir, { recursive: true, force: true });
    await writeFile(tmpDir, 'not a directory');
    try {
      const res = await fetch(`${relay.url}/readyz`);
      const text = await res.text();
      const { checks, ...error } = JSON.parse(text);
      assertError({ status: res.status, body: error }, 503, 'not_ready');
      assert.ok(Number(res.headers.get('retry-after')) > 0, 'Retry-After');
      // Which dependency is down, and nothing of the error itself: no path, no errno, no driver text.
      assert.deepEqual(checks, { postgres: 'up', redis: 'up', spool: 'down' });
      assert.doesNotMatch(text, /ENOTDIR|EEXIST|ENOENT|EACCES|\/tmp|photo-relay-test|spool\/|not a directory/i, text);
    } finally {
      await rm(tmpDir, { force: true });
      await mkdir(tmpDir, { mode: 0o700 });
    }
    assert.equal((await fetch(`${relay.url}/readyz`)).status, 200, 'ready again once the spool is back');
  });
});

describe('graceful shutdown', () => {
  const GRACE_SECONDS = 4;
  let iso: Isolation;
  let env: Record<string, string>;
  let port: number;

  before(async () => {
    iso = await isolate();
    port = await freePort();
    env = { ...iso.env, SHUTDOWN_GRACE_SECONDS: String(GRACE_SECONDS), LOG_LEVEL: 'silent' };
  });
  after(async () => {
    await killAll();
    await iso?.drop();
  });

  /**
   * Start a relay and a trickled upload of `bytes`, wait until it has a temp file, SIGTERM the relay and keep
   * sending at `bytesPerSecond`. Returns what the upload, a request arriving during the shutdown and a new
   * connection got, how long the exit took, and the exit status.
   */
  async function terminateDuringUpload(bytes: Buffer, bytesPerSecond: number) {
    const relay = await ChildRelay.start(env, port);
    const admin = new Client(relay.url);
    const phone = await admin.pairDevice(await admin.createAccount(`Term ${bytesPerSecond}`));

    // A request whose headers are half sent when the signal comes: it arrives during the shutdown. (A connection idle
    // at that moment is simply closed.)
    const late = await RawConnection.open(relay.url);
    const lateHead = requestHead('GET', '/api/v1/device', { Authorization: `Bearer ${phone.token}` });
    await late.write(lateHead.slice(0, 20));

    const { body, contentType } = multipart([
      { name: 'deviceAssetId', value: `term-${bytesPerSecond}` },
      { name: 'file', value: bytes, filename: 'big.jpg', contentType: 'image/jpeg' },
    ]);
    const upload = await RawConnection.open(relay.url);
    await upload.write(
      requestHead('POST', '/api/v1/assets', { Authorization: `Bearer ${phone.token}`, 'Content-Type': contentType, 'Content-Length': body.length }),
    );
    const slice = Math.max(1024, Math.floor(bytesPerSecond / 20));
    const sending = upload.trickle(body, slice, 50);
    await poll(
      () => readdir(path.join(iso.spoolDir, 'tmp')),
      (files) => files.some((f) => f.endsWith('.part')),
      10_000,
    );

    const signalledAt = Date.now();
    relay.child.kill('SIGTERM');
    await sleep(200);

    await late.write(lateHead.slice(20));
    const reused = await late.responseWithin(5000);
    // A new connection: 503 not_ready, or refused once the listener is closed.
    const fresh = await rawRequest(relay.url, 'GET', '/api/v1/device', { Authorization: `Bearer ${phone.token}` }).catch(
      (err: NodeJS.ErrnoException) => err.code ?? 'error',
    );

    const exit = await relay.exited;
    const exitMs = Date.now() - signalledAt;
    await sending;
    const answer = await upload.responseWithin(1000);
    upload.socket.destroy();
    late.socket.destroy();
    return { relay, answer, reused, fresh, exit, exitMs, phone };
  }

  function assertRefusedOr503(res: unknown, what: string) {
    if (res && typeof res === 'object') assertError(res as { status: number; body: unknown }, 503, 'not_ready');
    else assert.ok(res === null || res === undefined || res === 'ECONNREFUSED' || res === 'ECONNRESET', `${what}: ${String(res)}`);
  }

  it('an upload that finishes within the grace period completes (201); new requests get 503; clean exit', async () => {
    const bytes = jpeg(600_000);
    const { answer, reused, fresh, exit, exitMs, relay } = await terminateDuringUpload(bytes, 600_000);
    assert.ok(answer, `the in-flight upload got no answer:\n${relay.output}`);
    if (answer.status === 201) assert.equal(answer.body.sha256, sha256(bytes));
    else assertError(answer, 503, 'not_ready');
    assertError(reused, 503, 'not_ready');
    assertRefusedOr503(fresh, 'request on a new connection');
    assert.deepEqual(exit, { code: 0, signal: null }, `unclean exit after ${exitMs} ms:\n${relay.output}`);
    assert.ok(exitMs < GRACE_SECONDS * 1000 + 1000, `exit took ${exitMs} ms`);
    assert.deepEqual(await readdir(path.join(iso.spoolDir, 'tmp')), []);
  });

  it('an upload slower than the grace period is stopped (503 or cut), its temp file deleted, and the exit is clean and in time', async () => {
    const bytes = jpeg(8_000_000); // at 400 kB/s: 20 s, far past the grace period
    const { answer, reused, fresh, exit, exitMs, relay } = await terminateDuringUpload(bytes, 400_000);
    if (answer) assertError(answer, 503, 'not_ready');
    assertError(reused, 503, 'not_ready');
    assertRefusedOr503(fresh, 'request on a new connection');
    assert.deepEqual(exit, { code: 0, signal: null }, `unclean exit after ${exitMs} ms:\n${relay.output}`);
    assert.ok(exitMs < GRACE_SECONDS * 1000 + 1000, `exit took ${exitMs} ms`);
    assert.deepEqual(await readdir(path.join(iso.spoolDir, 'tmp')), [], 'a temp file outlived the shutdown');
  });
});

describe('temp file sweeper', () => {
  it('at start removes temp files older than STALE_TEMP_MINUTES and keeps younger ones', async () => {
    const iso = await isolate();
    try {
      const tmp = path.join(iso.spoolDir, 'tmp');
      await mkdir(tmp, { recursive: true });
      const stale = path.join(tmp, 'dead-upload.part');
      const fresh = path.join(tmp, 'live-upload.part');
      await writeFile(stale, 'left by a crash');
      await writeFile(fresh, 'still being written');
      const anHourAgo = new Date(Date.now() - 60 * 60_000);
      await utimes(stale, anHourAgo, anHourAgo);

      const relay = await ChildRelay.start({ ...iso.env, STALE_TEMP_MINUTES: '30', LOG_LEVEL: 'silent' }, await freePort());
      await relay.kill('SIGKILL');
      assert.deepEqual(await readdir(tmp), ['live-upload.part']);
    } finally {
      await iso.drop();
    }
  });

  it('never removes the temp file of an upload still being received, whatever the threshold', async () => {
    const root = await isolate();
    try {
      const store = new BlobStore(root.spoolDir);
      await store.init();
      const source = new PassThrough();
      const receiving = store.receive(source, 10_000_000);
      const bytes = jpeg(300_000);
      source.write(bytes.subarray(0, 100_000));
      await waitForTempFile(store.tmpDir);
      // A sweep with threshold 0, as at start-up or with STALE_TEMP_MINUTES=0, while the upload is live.
      await store.sweepTemp(0);
      source.end(bytes.subarray(100_000));
      const temp = await receiving;
      await store.commit(temp);
      assert.equal(temp.sha256, sha256(bytes));
      assert.ok(await store.has(temp.sha256), 'the live upload lost its bytes to the sweeper');
    } finally {
      await root.drop();
    }
  });
});
