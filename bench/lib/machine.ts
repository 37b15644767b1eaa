import { execFileSync } from 'node:child_process';
import { readdir, readFile, statfs } from 'node:fs/promises';
import path from 'node:path';
import os from 'node:os';
import pg from 'pg';
import { Redis } from 'ioredis';
import { PG_ROOT, REDIS_URL } from '../../test/helpers/harness.ts';
import { REPO } from './proc.ts';

export interface Machine {
  cpu: string;
  cores: number;
  ramBytes: number;
  node: string;
  os: string;
  diskFreeBytes: number;
  diskPath: string;
  loadAverage: number[];
  postgres: string;
  redis: string;
  git: string;
  /** Whether a virtio balloon hands freed memory back to the host (bench/README.md, "Fresh memory"). */
  freePageReporting: boolean;
}

// VIRTIO_BALLOON_F_REPORTING, a bit of the device's feature string in sysfs (one character per bit, lowest first).
const BALLOON_REPORTING_BIT = 5;

async function balloonReportsFreePages(): Promise<boolean> {
  const dir = '/sys/bus/virtio/drivers/virtio_balloon';
  const devices = await readdir(dir).catch(() => [] as string[]);
  for (const device of devices.filter((d) => d.startsWith('virtio'))) {
    const features = await readFile(path.join(dir, device, 'features'), 'utf8').catch(() => '');
    if (features[BALLOON_REPORTING_BIT] === '1') return true;
  }
  return false;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '?';
  }
}

export async function describeMachine(diskPath: string): Promise<Machine> {
  const cpus = os.cpus();
  const fsStats = await statfs(diskPath);
  const db = new pg.Client({ connectionString: `${PG_ROOT}/postgres` });
  await db.connect();
  const postgres = ((await db.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]?.v ?? '?').split(' ')[0]!;
  await db.end();
  const redis = new Redis(REDIS_URL);
  const info = await redis.info('server');
  redis.disconnect();
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) ? ' (uncommitted changes)' : '';
  return {
    cpu: cpus[0]?.model.trim() ?? '?',
    cores: cpus.length,
    ramBytes: os.totalmem(),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    diskFreeBytes: fsStats.bavail * fsStats.bsize,
    diskPath,
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
    postgres,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
    git: `${git(['rev-parse', '--short', 'HEAD'])}${dirty}`,
    freePageReporting: await balloonReportsFreePages(),
  };
}
