import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { loadConfig, type Config } from '../../src/config/config.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createLogger } from '../../src/ops/logger.ts';
import { closeServices, createServices, type Services } from '../../src/services.ts';
import { buildApp, type AppHandle } from '../../src/app.ts';

export const PG_ROOT = process.env.TEST_DATABASE_ROOT ?? 'postgresql://postgres@127.0.0.1:5432';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdefghijklmnop';

/** A database, a Redis key prefix and a spool of its own: test files run in parallel and leave nothing behind. */
export interface Isolation {
  name: string;
  databaseUrl: string;
  redisPrefix: string;
  spoolDir: string;
  env: Record<string, string>;
  drop(): Promise<void>;
}

export async function isolate(extraEnv: Record<string, string> = {}): Promise<Isolation> {
  const name = `pr_test_${randomBytes(6).toString('hex')}`;
  const databaseUrl = `${PG_ROOT}/${name}`;
  const spoolRoot = await mkdtemp(path.join(tmpdir(), 'photo-relay-test-'));
  const spoolDir = path.join(spoolRoot, 'spool');
  const redisPrefix = name;
  await migrate(databaseUrl);
  const env = {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    REDIS_PREFIX: redisPrefix,
    SPOOL_DIR: spoolDir,
    ADMIN_TOKEN,
    // Not demo mode: a Google client whose endpoints lead nowhere, until a test points them at an emulator.
    GOOGLE_CLIENT_ID: 'photo-relay-demo',
    GOOGLE_CLIENT_SECRET: 'demo-secret',
    GOOGLE_PHOTOS_API_URL: 'http://127.0.0.1:9',
    GOOGLE_OAUTH_AUTH_URL: 'http://127.0.0.1:9/o/oauth2/v2/auth',
    GOOGLE_OAUTH_TOKEN_URL: 'http://127.0.0.1:9/token',
    GOOGLE_OAUTH_REVOKE_URL: 'http://127.0.0.1:9/revoke',
    ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...extraEnv,
  };
  return {
    name,
    databaseUrl,
    redisPrefix,
    spoolDir,
    env,
    async drop() {
      const admin = new pg.Client({ connectionString: `${PG_ROOT}/postgres` });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
      await deleteRedisKeys(redisPrefix);
      await rm(spoolRoot, { recursive: true, force: true });
    },
  };
}

export async function deleteRedisKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  redis.disconnect();
}

export interface TestRelay {
  url: string;
  config: Config;
  services: Services;
  handle: AppHandle;
  iso: Isolation;
  close(): Promise<void>;
}

export interface RelayOptions {
  /** Where the relay logs (default: the config's level, to stdout). */
  logger?: Logger;
  /** The database URL the relay uses, given the one its database was created and migrated through (e.g. a proxy). */
  databaseUrl?: (direct: string) => Promise<string> | string;
  /** Listen on this port (default: any free one). */
  port?: number;
}

/** A relay's API on a real socket (127.0.0.1, random port) with its own database, Redis prefix and spool. */
export async function startRelay(extraEnv: Record<string, string> = {}, options: RelayOptions = {}): Promise<TestRelay> {
  const iso = await isolate(extraEnv);
  const databaseUrl = options.databaseUrl ? await options.databaseUrl(iso.databaseUrl) : iso.databaseUrl;
  const config = loadConfig({ ...iso.env, DATABASE_URL: databaseUrl });
  return serve(config, options.logger ?? createLogger(config.logLevel), iso, options.port ?? 0, () => iso.drop());
}

/**
 * A second relay process's API (in this process) on the same database, Redis prefix and spool as `relay`, with
 * `extraEnv` on top of its settings: two instances behind one load balancer, or the same relay restarted.
 * Its close() leaves the shared database and spool alone.
 */
export async function startSibling(relay: TestRelay, extraEnv: Record<string, string> = {}): Promise<TestRelay> {
  return serve(loadConfig({ ...relay.iso.env, ...extraEnv }), createLogger('silent'), relay.iso, 0, async () => {});
}

/** The relay's API for `config`, listening on 127.0.0.1; close() stops it, then runs `release`. */
async function serve(config: Config, logger: Logger, iso: Isolation, port: number, release: () => Promise<void>): Promise<TestRelay> {
  const services = await createServices(config, logger);
  const handle = await buildApp(services);
  await handle.app.listen({ host: '127.0.0.1', port });
  const address = handle.app.server.address() as AddressInfo;
  let closed = false;
  return {
    url: `http://127.0.0.1:${address.port}`,
    config,
    services,
    handle,
    iso,
    async close() {
      if (closed) return;
      closed = true;
      await handle.app.close();
      await closeServices(services);
      await release();
    },
  };
}

export interface Residue {
  tempFiles: string[];
  blobFiles: string[];
  rows: { blobs: number; assets: number; deliveries: number };
}

/** What a request left behind: temp files, blob files and ledger rows. */
export async function residue(relay: { services: Services }): Promise<Residue> {
  const { blobs, db } = relay.services;
  const tempFiles = await readdir(blobs.tmpDir);
  const blobFiles = await listFiles(blobs.blobsDir);
  const [blobRows, assetRows, deliveryRows] = await Promise.all([db.blob.count(), db.asset.count(), db.delivery.count()]);
  return { tempFiles, blobFiles, rows: { blobs: blobRows, assets: assetRows, deliveries: deliveryRows } };
}

export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}
