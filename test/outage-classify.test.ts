import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createDb, openDatabase } from '../src/db/client.ts';
import { toApiError } from '../src/http/error-handler.ts';
import { isDependencyUnavailable } from '../src/http/unavailable.ts';
import { freePort } from './helpers/child.ts';
import { isolate, type Isolation } from './helpers/harness.ts';
import { waitFor } from './helpers/rig.ts';

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

describe('Postgres errors on plain pg (the ledger\'s registration path)', () => {
  let iso: Isolation;
  before(async () => {
    iso = await isolate();
  });
  after(() => iso?.drop());

  it('a refused connection, a session the server ended and a pool with no connection to give are outages; a bad statement is not', async () => {
    const closed = openDatabase(`postgresql://postgres@127.0.0.1:${await freePort()}/x`);
    const refused = await rejection(closed.pool.connect());
    await closed.db.$disconnect();

    const { db, pool } = openDatabase(iso.databaseUrl, 1, 200);
    const killer = new pg.Client({ connectionString: iso.databaseUrl });
    await killer.connect();
    const terminate = (pid: number) => killer.query('SELECT pg_terminate_backend($1)', [pid]);
    try {
      const client = await pool.connect();
      client.on('error', () => {});
      const pidOf = async () => (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const exhausted = await rejection(pool.connect());
      // Ended under a statement (the server's 57P01), then used again (the client's own words).
      const pid = await pidOf();
      const sleeping = rejection(client.query('SELECT pg_sleep(30)'));
      await waitFor('the statement runs', async () => (await killer.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'SELECT pg_sleep%'`, [pid])).rowCount === 1, 5000);
      await terminate(pid);
      const endedUnder = await sleeping;
      const endedBefore = await rejection(client.query('SELECT 1'));
      client.release(true);
      for (const [what, err] of Object.entries({ refused, exhausted, endedUnder, endedBefore })) {
        assert.ok(isDependencyUnavailable(err), `${what} (${(err as Error).message}) not recognised`);
        assert.equal(toApiError(err as Error)?.code, 'not_ready', what);
      }
      const bad = await rejection(pool.query('SELECT no_such_column FROM accounts'));
      const tooLong = await rejection(pool.query(`INSERT INTO accounts (id, name) VALUES ($1, $2)`, [randomUUID(), 'x'.repeat(300)]));
      for (const [what, err] of Object.entries({ bad, tooLong })) {
        assert.ok(!isDependencyUnavailable(err), `${what} taken for an outage`);
        assert.equal(toApiError(err as Error), null, `${what} must stay a 500`);
      }
    } finally {
      await killer.end();
      await db.$disconnect();
    }
  });
});
