import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Client } from './helpers/client.ts';
import { startRelay, type TestRelay } from './helpers/harness.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { multipart, RawConnection, requestHead } from './helpers/raw-http.ts';

/**
 * Issue 10, finding 10: requests other than uploads have a deadline (REQUEST_TIMEOUT_SECONDS), so a client dripping
 * a byte now and then into the unauthenticated /api/v1/pair cannot hold its connection for good; uploads keep no
 * total deadline while they flow; MAX_CONNECTIONS caps open connections.
 */

const TIMEOUT_SECONDS = 1;
let relay: TestRelay;

before(async () => {
  relay = await startRelay({ REQUEST_TIMEOUT_SECONDS: String(TIMEOUT_SECONDS), MAX_CONNECTIONS: '6' });
});
after(() => relay?.close());

/** Drip `body` a byte every `everyMs` until the server closes the connection or `giveUpMs` passes; ms until closed. */
async function dripUntilClosed(conn: RawConnection, body: Buffer, everyMs: number, giveUpMs: number): Promise<number | null> {
  const started = Date.now();
  let closed = false;
  void conn.closed.then(() => (closed = true));
  for (let i = 0; i < body.length && !closed && Date.now() - started < giveUpMs; i++) {
    await conn.write(body.subarray(i, i + 1));
    await sleep(everyMs);
  }
  return closed ? Date.now() - started : null;
}

describe('request deadline', () => {
  it('a body dripped into /api/v1/pair is cut within the timeout', async () => {
    const body = Buffer.from(JSON.stringify({ code: 'ABCDE-FGHJK', name: 'slow loris', platform: 'android', pad: 'x'.repeat(200) }));
    const conn = await RawConnection.open(relay.url);
    await conn.write(requestHead('POST', '/api/v1/pair', { 'Content-Type': 'application/json', 'Content-Length': body.length }));
    // A byte every 100 ms: never idle long enough for the 2-minute idle timeout, so only the deadline can cut it.
    const closedAfter = await dripUntilClosed(conn, body, 100, 10_000);
    conn.socket.destroy();
    assert.ok(closedAfter !== null, 'the dripping connection was still open after 10 s');
    assert.ok(closedAfter < TIMEOUT_SECONDS * 1000 + 1500, `cut after ${closedAfter} ms`);
    assert.equal((await fetch(`${relay.url}/healthz`)).status, 200, 'the relay still answers');
  });

  it('an upload flowing slowly for longer than the deadline completes (201)', async () => {
    const admin = new Client(relay.url);
    const phone = await admin.pairDevice(await admin.createAccount('Slow'));
    const bytes = jpeg(60_000);
    const { body, contentType } = multipart([
      { name: 'deviceAssetId', value: 'slow-upload' },
      { name: 'file', value: bytes, filename: 'slow.jpg', contentType: 'image/jpeg' },
    ]);
    const conn = await RawConnection.open(relay.url);
    await conn.write(
      requestHead('POST', '/api/v1/assets', { Authorization: `Bearer ${phone.token}`, 'Content-Type': contentType, 'Content-Length': body.length }),
    );
    // About 2.5 s in all: well past the 1 s deadline of other requests.
    await conn.trickle(body, Math.ceil(body.length / 25), 100);
    const res = await conn.responseWithin(10_000);
    conn.socket.destroy();
    assert.equal(res?.status, 201, JSON.stringify(res?.body));
    assert.equal(res?.body.sha256, sha256(bytes));
  });
});

describe('connection cap', () => {
  it('connections beyond MAX_CONNECTIONS are closed on arrival; the relay answers again once they go', async () => {
    const held: RawConnection[] = [];
    try {
      for (let i = 0; i < 6; i++) held.push(await RawConnection.open(relay.url));
      await sleep(100);
      const extra = await RawConnection.open(relay.url);
      const closed = await Promise.race([extra.closed.then(() => true), sleep(2000).then(() => false)]);
      extra.socket.destroy();
      assert.ok(closed, 'a seventh connection was kept open');
    } finally {
      for (const c of held) c.socket.destroy();
    }
    await sleep(100);
    assert.equal((await fetch(`${relay.url}/healthz`)).status, 200);
  });
});
