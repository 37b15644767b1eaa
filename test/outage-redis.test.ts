import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, it } from 'node:test';
import { freePort } from './helpers/child.ts';
import { jpeg, sha256 } from './helpers/media.ts';
import { assertDeliveredExactlyOnce, assetOf, member, waitAssetState } from './helpers/forwarding.ts';
import { startRig, waitFor, type Rig } from './helpers/rig.ts';

/**
 * Issue 10, finding 5: Redis is the scheduler, not the ledger. With it down, uploads (Postgres and the disk) are
 * accepted and recorded, authentication still works (the failure limiter fails open), nothing answers 500, and
 * forwarding picks the uploads up once Redis is back. This test runs a Redis of its own, to stop and start it.
 */

let redisPort: number;
let redis: ChildProcess | null = null;
let rig: Rig;

async function startRedis(): Promise<void> {
  redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
    stdio: 'ignore',
  });
  await waitFor('redis-server listening', () => canConnect(redisPort), 10_000, 50);
}

async function stopRedis(): Promise<void> {
  const child = redis;
  redis = null;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

process.once('exit', () => redis?.kill('SIGKILL'));

before(async () => {
  redisPort = await freePort();
  await startRedis();
  rig = await startRig({ env: { REDIS_URL: `redis://127.0.0.1:${redisPort}` } });
});
after(async () => {
  await rig?.close();
  await stopRedis();
});

it('Redis down: uploads are accepted (201) and recorded, auth and pairing still answer, nothing 500s; forwarded once Redis is back', async () => {
  const m = await member(rig, 'Outage');
  const before = jpeg(20_000);
  const first = await m.phone.upload(before);
  assert.equal(first.status, 201);
  await waitAssetState(rig, first.body.id, 'backed_up');

  await stopRedis();
  await waitFor('the relay to notice Redis is gone', async () => rig.relay.services.redis.status !== 'ready', 10_000, 50);

  const photo = jpeg(25_000);
  const upload = await m.phone.upload(photo);
  assert.equal(upload.status, 201, `upload while Redis is down: ${JSON.stringify(upload.body)}`);
  assert.equal(upload.body.sha256, sha256(photo));
  const recorded = await assetOf(rig, upload.body.id);
  assert.equal(recorded.state, 'pending', 'recorded in Postgres, waiting for forwarding');

  const device = await m.phone.call('GET', '/api/v1/device');
  assert.equal(device.status, 200, `device route while Redis is down: ${JSON.stringify(device.body)}`);
  assert.equal((await rig.admin.call('GET', `/api/v1/admin/accounts/${m.accountId}`)).status, 200);
  // The failure limiter cannot count, so it lets the attempt through to its ordinary answer.
  const wrong = await m.phone.as('prd_wrong').call('GET', '/api/v1/device');
  assert.deepEqual([wrong.status, wrong.body.code], [401, 'unauthorized']);
  // /pair: the request rate limit (Redis-backed) and the pairing limiter both step aside.
  const pair = await m.phone.as('').call('POST', '/api/v1/pair', { code: 'ZZZZZ-ZZZZZ', name: 'x', platform: 'ios' });
  assert.deepEqual([pair.status, pair.body.code], [404, 'not_found']);

  const ready = await fetch(`${rig.relay.url}/readyz`);
  assert.equal(ready.status, 503);
  assert.ok(Number(ready.headers.get('retry-after')) > 0, 'Retry-After on 503');
  const readyBody = await ready.json();
  assert.equal(readyBody.code, 'not_ready');
  assert.deepEqual(readyBody.checks, { postgres: 'up', redis: 'down', spool: 'up' });

  // A moment with Redis away: the upload stays pending, nothing was lost.
  await sleep(1500);
  assert.equal((await assetOf(rig, upload.body.id)).state, 'pending');

  await startRedis();
  // The reconciler (every second in tests) schedules the delivery once the queues can be reached again.
  await waitAssetState(rig, upload.body.id, 'backed_up', 60_000);
  await assertDeliveredExactlyOnce(rig, m, [sha256(before), sha256(photo)]);
  assert.equal((await fetch(`${rig.relay.url}/readyz`)).status, 200, 'ready again');
});

it('Redis wedged (it accepts, never answers): an upload is answered at once, not after the command timeout; its job follows once Redis answers', async () => {
  const m = await member(rig, 'Wedged');
  assert.equal((await m.phone.upload(jpeg(21_000))).status, 201);
  const photo = jpeg(26_000);
  redis!.kill('SIGSTOP');
  let upload;
  let took: number;
  try {
    const started = Date.now();
    upload = await m.phone.upload(photo);
    took = Date.now() - started;
  } finally {
    redis!.kill('SIGCONT');
  }
  assert.equal(upload.status, 201, JSON.stringify(upload.body));
  // The job hint waits for Redis (up to its 5 s command timeout), the answer does not.
  assert.ok(took < 2500, `answered after ${took} ms`);
  await waitAssetState(rig, upload.body.id, 'backed_up', 60_000);
  await assertDeliveredExactlyOnce(rig, m);
});
