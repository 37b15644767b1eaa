import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from './config/config.ts';
import { openDatabase, type Db } from './db/client.ts';
import { BlobStore } from './ingest/blob-store.ts';
import { openSpool } from './ingest/spool-identity.ts';
import { ForwardQueues } from './forwarding/queue.ts';
import { FailureLimiter } from './http/failure-limiter.ts';
import { Metrics } from './ops/metrics.ts';
import { Ledger } from './ledger/ledger.ts';
import type { Scheduler } from './ledger/scheduler.ts';
import { ForwardScheduler } from './forwarding/scheduler.ts';
import { BatchingScheduler } from './ledger/scheduler-batch.ts';

/** Every side effect the relay has, created once from the config and handed to the parts that need them. */
export interface Services {
  config: Config;
  log: Logger;
  db: Db;
  /** The only writer of blobs, assets and deliveries. */
  ledger: Ledger;
  /** What the ledger's callers may ask of forwarding (jobs are hints; the ledger is the truth). */
  scheduler: Scheduler;
  /** For request-path commands: fails fast rather than queueing while Redis is away. */
  redis: Redis;
  blobs: BlobStore;
  queues: ForwardQueues;
  limits: { pairing: FailureLimiter; auth: FailureLimiter };
  metrics: Metrics;
  clock: () => Date;
}

// A Redis that accepts connections but does not answer (paused, swapping) must not hold a request: past this, the
// command fails and its caller's fallback applies (the limiter lets the attempt through, an enqueue is left to the
// reconciler).
const REQUEST_COMMAND_TIMEOUT_MS = 5000;
const REDIS_WARN_EVERY_MS = 60_000;

export function redisConnection(config: Config, options: { worker: boolean; log?: Logger }): Redis {
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    // Workers block on Redis and must wait for it; request handlers must answer rather than hang.
    maxRetriesPerRequest: options.worker ? null : 1,
    enableOfflineQueue: options.worker,
    ...(options.worker ? {} : { commandTimeout: REQUEST_COMMAND_TIMEOUT_MS }),
  });
  // ioredis reconnects on its own; without a listener it would print every failed attempt to stderr.
  const { log } = options;
  let lastWarning = 0;
  let down = false;
  redis.on('error', (err: Error) => {
    down = true;
    const now = Date.now();
    if (now - lastWarning < REDIS_WARN_EVERY_MS) return;
    lastWarning = now;
    log?.warn({ err }, 'Redis connection error; reconnecting');
  });
  redis.on('ready', () => {
    if (down) log?.info('Redis connection is back');
    down = false;
  });
  return redis;
}

export async function createServices(config: Config, log: Logger): Promise<Services> {
  // A forwarding worker runs up to FORWARD_MAX_CONCURRENCY uploads, each a few short statements, beside the create
  // jobs (one holds a transaction across its Google call): enough connections that none waits on the others.
  const { db, pool } = openDatabase(config.databaseUrl, Math.max(10, config.forwarding.maxConcurrency + 6));
  // Prisma starts its engine on the first query, which can take seconds on a busy host: do it now, so the first
  // /readyz after start-up does not time out (a spurious 503) and an unreachable database stops the start.
  await db.$queryRaw`SELECT 1`;
  const redis = redisConnection(config, { worker: false, log });
  await redis.connect();
  const blobs = new BlobStore(config.spoolDir);
  const queueConnection = redisConnection(config, { worker: false, log });
  await queueConnection.connect();
  const queues = ForwardQueues.create(queueConnection, config.redisPrefix, log);
  // A Queue with no error listener prints every reconnect failure to stderr; the connection's listener above says it once.
  for (const queue of [queues.uploads, queues.creates]) queue.on('error', () => {});
  const limits = {
    pairing: new FailureLimiter(redis, `${config.redisPrefix}:failures:pairing`, config.pairingMaxFailures, 15 * 60, log),
    auth: new FailureLimiter(redis, `${config.redisPrefix}:failures:auth`, config.authMaxFailures, 5 * 60, log),
  };
  const services: Services = {
    config,
    log,
    db,
    ledger: undefined as unknown as Ledger,
    scheduler: undefined as unknown as Scheduler,
    redis,
    blobs,
    queues,
    limits,
    metrics: undefined as unknown as Metrics,
    clock: () => new Date(),
  };
  // The ledger reads services.clock on every write, so a test that replaces the clock moves the ledger's too.
  services.ledger = new Ledger(db, () => services.clock(), pool, (err) => log.warn({ err }, 'could not count the bytes devices sent'));
  services.scheduler = new BatchingScheduler(new ForwardScheduler(services.ledger, queues, log), log);
  // Before anything reads or writes the spool: is it the one this ledger's blobs live in?
  try {
    await openSpool(blobs, services.ledger);
  } catch (err) {
    await closeServices(services);
    throw err;
  }
  // Gauges read the clock through services, so a test that moves the clock moves them too.
  services.metrics = new Metrics({ db, queues, config, log, clock: () => services.clock() });
  return services;
}

// At shutdown, how long job hints still on their way may hold the close (the reconciler schedules what is lost).
const HINTS_SETTLE_MS = 2000;

export async function closeServices(services: Services): Promise<void> {
  if (services.scheduler instanceof BatchingScheduler) {
    await Promise.race([services.scheduler.settled(), new Promise((resolve) => setTimeout(resolve, HINTS_SETTLE_MS).unref())]);
  }
  await services.queues.close().catch(() => {});
  services.redis.disconnect();
  await services.db.$disconnect();
}
