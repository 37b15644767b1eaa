import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createDb } from '../src/db/client.ts';
import { toApiError } from '../src/http/error-handler.ts';
import { isDependencyUnavailable } from '../src/http/unavailable.ts';
import { freePort } from './helpers/child.ts';
import { isolate, type Isolation } from './helpers/harness.ts';

/**
 * Issue 10, finding 5: which errors mean "Postgres or Redis is out of reach" (503 not_ready) and which are faults
 * (500), judged on the errors the real drivers raise, not on hand-made ones.
 */

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('Redis errors (ioredis)', () => {
  let silent: net.Server;
  let silentPort: number;
  const accepted = new Set<net.Socket>();
  before(async () => {
    // Accepts connections and never answers: a paused or wedged Redis.
    silent = net.createServer((socket) => accepted.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as net.AddressInfo).port;
  });
  after(async () => {
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  it('a refused connection, a closed stream, exhausted retries and a command timeout are all outages', async () => {
    const port = await freePort();
    const failFast = new Redis({ port, host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    failFast.on('error', () => {});
    const connectErr = await rejection(failFast.connect());
    const offlineErr = await rejection(failFast.get('k'));
    failFast.disconnect();

    const retrying = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 10 });
    retrying.on('error', () => {});
    const retriesErr = await rejection(retrying.get('k'));
    retrying.disconnect();

    const wedged = new Redis({ port: silentPort, host: '127.0.0.1', commandTimeout: 100, maxRetriesPerRequest: 1 });
    wedged.on('error', () => {});
    const timeoutErr = await rejection(wedged.get('k'));
    wedged.disconnect();

    for (const [what, err] of Object.entries({ connectErr, offlineErr, retriesErr, timeoutErr })) {
      assert.ok(isDependencyUnavailable(err), `${what} (${(err as Error).message}) not recognised`);
      assert.equal(toApiError(err as Error)?.code, 'not_ready', what);
    }
  });
});

describe('Postgres errors (Prisma with the pg adapter)', () => {
  let iso: Isolation;
  before(async () => {
    iso = await isolate();
  });
  after(() => iso?.drop());

  it('an unreachable server or a missing database is an outage; a constraint violation or a bad query is not', async () => {
    const closed = createDb(`postgresql://postgres@127.0.0.1:${await freePort()}/x`);
    const unreachable = await rejection(closed.device.findFirst());
    const unreachableRaw = await rejection(closed.$queryRaw`SELECT 1`);
    await closed.$disconnect();
    const url = new URL(iso.databaseUrl);
    url.pathname = '/pr_test_no_such_database';
    const missing = createDb(url.toString());
    const missingDb = await rejection(missing.device.findFirst());
    await missing.$disconnect();
    for (const [what, err] of Object.entries({ unreachable, unreachableRaw, missingDb })) {
      assert.ok(isDependencyUnavailable(err), `${what} not recognised: ${(err as { code?: string }).code}`);
      assert.equal(toApiError(err as Error)?.code, 'not_ready', what);
    }

    const db = createDb(iso.databaseUrl);
    try {
      const id = randomUUID();
      await db.account.create({ data: { id, name: 'Dup' } });
      const duplicate = await rejection(db.account.create({ data: { id, name: 'Dup' } }));
      const badQuery = await rejection(db.$queryRaw`SELECT no_such_column FROM accounts`);
      for (const [what, err] of Object.entries({ duplicate, badQuery, plain: new Error('a bug') })) {
        assert.ok(!isDependencyUnavailable(err), `${what} taken for an outage`);
        assert.equal(toApiError(err as Error), null, `${what} must stay a 500`);
      }
    } finally {
      await db.$disconnect();
    }
  });
});
