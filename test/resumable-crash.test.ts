import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { after, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChildRelay, freePort, killAll } from './helpers/child.ts';
import { Client } from './helpers/client.ts';
import { isolate, type Isolation } from './helpers/harness.ts';
import { mp4, sha256 } from './helpers/media.ts';
import { call, createTus, patchTus, TUS, openTusPatch } from './helpers/resumable.ts';

/**
 * kill -9 of the relay mid-append, 5 rounds, each resumed: after every restart the offset is exactly the bytes
 * acknowledged before the kill (fsynced, never less, never a byte the relay did not confirm), nothing is registered
 * before the upload is complete, and the completed upload is one asset with the right hash.
 */

const ROUNDS = 5;
const START_TIMEOUT_MS = 300_000;
let iso: Isolation | undefined;
after(async () => {
  await killAll();
  await iso?.drop();
});

it('survives kill -9 mid-append, 5 rounds: the offset is what was acknowledged, the result one asset with the right hash', async () => {
  iso = await isolate();
  const port = await freePort();
  const env = { ...iso.env, LOG_LEVEL: 'silent' };
  let relay = await ChildRelay.start(env, port, START_TIMEOUT_MS);
  const admin = new Client(relay.url);
  const phone = await admin.pairDevice(await admin.createAccount('Crash'), 'Phone');
  const bytes = mp4(4_000_000);
  const target = { url: relay.url } as never;
  const url = await createTus(target, phone.token, bytes.length, { deviceAssetId: 'crash', fileName: 'crash.mp4', sha256: sha256(bytes) });
  const step = 200_000;
  let acknowledged = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // One append the relay confirms...
    const ok = await patchTus(target, phone.token, url, acknowledged, bytes.subarray(acknowledged, acknowledged + step));
    assert.equal(ok.status, 204, JSON.stringify(ok.body));
    acknowledged += step;
    assert.equal(ok.headers.get('upload-offset'), String(acknowledged));
    // ...and one it is killed in the middle of.
    const conn = await openTusPatch(relay.url, phone.token, url, acknowledged, bytes.length - acknowledged);
    const trickling = conn.trickle(bytes.subarray(acknowledged), 32 * 1024, 10);
    await sleep(150 + 100 * round);
    await relay.kill('SIGKILL');
    await trickling;
    conn.socket.destroy();
    relay = await ChildRelay.start(env, port, START_TIMEOUT_MS);

    const head = await call(target, phone.token, 'HEAD', url, TUS);
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('upload-offset'), String(acknowledged), `round ${round}: the offset after the restart`);
    const id = url.split('/').pop()!;
    const file = await stat(path.join(iso.spoolDir, 'uploads', `${id}.part`));
    assert.ok(file.size >= acknowledged, `round ${round}: the part file lost acknowledged bytes`);
    const assets = await call(target, phone.token, 'GET', '/api/v1/assets', {});
    assert.equal(assets.status, 200);
    assert.equal(assets.body.items.length, 0, 'a partial upload was registered');
  }
  const done = await patchTus(target, phone.token, url, acknowledged, bytes.subarray(acknowledged));
  assert.equal(done.status, 204, JSON.stringify(done.body));
  const assetId = done.headers.get('x-asset-id')!;
  const asset = await call(target, phone.token, 'GET', `/api/v1/assets/${assetId}`, {});
  assert.equal(asset.body.sha256, sha256(bytes));
  assert.equal(asset.body.size, bytes.length);
  const assets = await call(target, phone.token, 'GET', '/api/v1/assets', {});
  assert.equal(assets.body.items.length, 1);
  await relay.kill('SIGKILL');
});
